"""Every setting is applied by each kind of run or refused for it by name (backtest.core.scope).

The walk goes over every key of the settings reference (`wfbt settings`) for both kinds. A key a kind does
not apply must be refused when set to anything but its default, with a message naming the key, the kind and
what to do instead. A key a kind applies must be named, with that kind, in EVIDENCE: a test that sets it in a
run or a function of that kind (its source names the key) and checks what it changes. The keys that apply but
no test yet shows changing a result are pinned in NO_TEST_YET, so the list can only shrink.
"""

import ast
from pathlib import Path

import pytest

from backtest.core.config import load_config
from backtest.core.errors import ConfigError
from backtest.core.scope import KIND_NAMES, SINGLE, UNIVERSE, UNIVERSE_REFUSES, applies, kinds
from backtest.core.settings import settings

ROOT = Path(__file__).resolve().parents[2]
BASE = {SINGLE: [], UNIVERSE: ["universe.enabled=true", "data.source='csv'", "data.path='u.csv'"]}

# a value other than the default for every key some kind refuses (types right, so the kind's refusal is reached)
SAMPLES = {
    "run.scheduler": "'tcp://127.0.0.1:8786'",
    "data.symbol": "'AAPL'", "data.table": "'TWN/APRCDX'", "data.refresh": "true", "data.adjusted": "true",
    "walkforward.protocol": "'study'", "walkforward.study_train": "0.7",
    "walkforward.study_val": "0.1", "walkforward.study_test": "0.3", "forecast.features": "['open', 'close']",
    "forecast.representation": "'level'", "forecast.scaler": "'minmax'", "forecast.scaler_fit": "'whole_series'",
    "forecast.layout": "'flat'", "strategies.direction": "'short'", "strategies.sizing": "'vol_target'",
    "strategies.fraction": "0.3", "strategies.target_vol": "0.2", "strategies.vol_window": "10",
    "strategies.max_leverage": "0.5", "strategies.stop_loss": "0.05", "strategies.take_profit": "0.1",
    "strategies.trailing_stop": "0.05", "backtest.tax": "0.003", "backtest.execution": "'close'",
    "backtest.risk_free": "0.05", "backtest.whole_shares": "true", "backtest.lot_size": "100",
    "backtest.min_fee": "50.0", "statistics.mcs_size": "0.2",
    "universe.layout": "'long'", "universe.symbol_column": "'Name'", "universe.min_symbols": "30",
    "universe.k": "5", "universe.leg_gross": "1.0", "universe.n_drop": "1", "universe.books": "['long_only']",
    "universe.target": "'above_median'", "universe.networks": "'per_symbol'", "universe.memory_gb": "4.0",
    "universe.horizon": "5", "walkforward.embargo": "2", "universe.groups": "'g.csv'", "universe.neutral": "'demean'",
    "universe.processors": "['cs_rank']", "universe.target_processors": "['cs_rank']",
    "data.symbols": "['AAPL', 'MSFT']",
}

# key|kind -> a test that sets the key in a run (or a function) of that kind and checks what it does
EVIDENCE = {
    "run.workers|universe":
        "tests/engine/test_chunk_fanout.py::test_a_local_cluster_of_two_workers_gives_the_in_process_bits",
    "run.scheduler|universe":
        "tests/engine/test_chunk_fanout.py::test_two_workers_give_the_in_process_bits_and_survive_a_killed_worker",
    "run.name|single":
        "tests/report/test_html_browser.py::test_the_loss_chart_opens_on_a_trained_network_and_lists_no_baseline",
    "run.name|universe":
        "tests/report/test_html_browser.py::test_universe_report_draws_every_chart_without_javascript_errors",
    "run.seed|single":
        "tests/engine/test_single_settings.py::test_each_training_setting_changes_the_networks_predictions",
    "run.seed|universe":
        "tests/engine/test_pooled.py::test_the_pooled_member_is_the_folds_windows_with_its_stable_seed",
    "run.out_dir|single":
        "tests/engine/test_single_settings.py::test_run_out_dir_is_where_the_run_folder_goes",
    "run.device|single":
        "tests/engine/test_single_settings.py::test_run_device_is_the_device_the_run_trains_on_and_records",
    "run.device|universe":
        "tests/engine/test_pooled.py::test_the_pooled_member_is_the_folds_windows_with_its_stable_seed",
    "run.threads|single": "tests/core/test_cores.py::test_threads_option_sets_training_threads_and_resume_pins_them",
    "data.source|single":
        "tests/engine/test_study_protocol.py::test_models_and_plan_of_the_paper_config_show_its_39201_parameter_gru",
    "data.source|universe":
        "tests/engine/test_universe_rules.py::test_rule_books_hold_by_hand_worked_stocks_at_equal_weights",
    "data.symbol|single": "tests/data/test_cache.py::test_run_uses_the_cache_and_refresh_downloads_again",
    "data.path|single":
        "tests/engine/test_study_protocol.py::test_models_and_plan_of_the_paper_config_show_its_39201_parameter_gru",
    "data.path|universe":
        "tests/engine/test_universe_rules.py::test_rule_books_hold_by_hand_worked_stocks_at_equal_weights",
    "data.start|single":
        "tests/data/test_single_data_settings.py::test_data_start_is_the_first_day_and_data_end_the_first_day_left_out",
    "data.start|universe": "tests/runs/test_universe_compare.py::test_other_stocks_and_other_data_are_warned_first",
    "data.end|single":
        "tests/data/test_single_data_settings.py::test_data_start_is_the_first_day_and_data_end_the_first_day_left_out",
    "data.adjusted|single":
        "tests/data/test_single_data_settings.py::test_data_adjusted_downloads_yahoos_adjusted_bars",
    "data.table|single": "tests/data/test_tej.py::test_tej_own_errors_are_translated",
    "data.refresh|single": "tests/data/test_yahoo.py::test_yfinance_single_symbol_and_cache_without_network",
    "data.symbols|universe":
        "tests/data/test_universe_sources.py::test_a_yfinance_universe_runs_through_the_cache_and_reports_a_missing_ticker",
    "data.refresh|universe":
        "tests/data/test_universe_sources.py::test_a_yfinance_universe_runs_through_the_cache_and_reports_a_missing_ticker",
    "data.table|universe": "tests/data/test_universe_sources.py::test_a_tej_universe_from_a_file_of_company_ids",
    "data.adjusted|universe": "tests/data/test_universe_sources.py::test_adjusted_yfinance_prices_reach_the_universe",
    "data.columns|single":
        "tests/data/test_single_data_settings.py::test_data_columns_maps_a_files_own_names",
    "data.columns|universe":
        "tests/data/test_universe.py::TestInputs::test_folder_of_per_symbol_files_mixed_compression",
    "data.date_format|single":
        "tests/data/test_csvfile.py::test_day_first_dates_with_no_day_above_12_are_read_day_first",
    "data.timezone|single":
        "tests/data/test_csvfile.py::test_utc_times_for_another_markets_midnight_are_refused_then_converted",
    "data.adjust|single": "tests/data/test_adjust.py::test_adjusted_prices_earn_the_dividend",
    "data.adjust|universe": "tests/data/test_adjust.py::TestUniverse::test_a_universe_run_applies_data_adjust",
    "walkforward.train_days|single": "tests/engine/test_schedule.py::test_rolling_folds_exact",
    "walkforward.train_days|universe":
        "tests/sweep/test_universe_sweep.py::test_a_universe_sweep_runs_each_cell_as_its_standalone_universe_run",
    "walkforward.test_days|single": "tests/engine/test_schedule.py::test_rolling_folds_exact",
    "walkforward.test_days|universe":
        "tests/sweep/test_universe_sweep.py::test_a_universe_sweep_runs_each_cell_as_its_standalone_universe_run",
    "walkforward.val_days|single": "tests/engine/test_schedule.py::test_rolling_folds_exact",
    "walkforward.val_days|universe":
        "tests/sweep/test_universe_sweep.py::test_a_universe_sweep_runs_each_cell_as_its_standalone_universe_run",
    "walkforward.gap|single": "tests/engine/test_schedule.py::test_gap_separates_training_from_test",
    "walkforward.window|single": "tests/engine/test_schedule.py::test_expanding_folds_start_at_zero",
    "walkforward.max_folds|single": "tests/engine/test_schedule.py::test_max_folds_keeps_the_latest_and_renumbers",
    "walkforward.protocol|single":
        "tests/engine/test_schedule.py::test_the_study_protocol_is_one_fold_with_the_papers_80_10_10",
    "walkforward.study_train|single":
        "tests/engine/test_schedule.py::test_the_study_protocol_is_one_fold_with_the_papers_80_10_10",
    "walkforward.study_val|single":
        "tests/engine/test_schedule.py::test_the_study_protocol_is_one_fold_with_the_papers_80_10_10",
    "walkforward.study_test|single":
        "tests/engine/test_schedule.py::test_the_study_protocol_is_one_fold_with_the_papers_80_10_10",
    "forecast.models|single":
        "tests/report/test_html_browser.py::test_the_loss_chart_opens_on_a_trained_network_and_lists_no_baseline",
    "forecast.models|universe":
        "tests/cli/test_run_universe.py::test_pooled_networks_run_beside_the_baselines",
    "forecast.lookback|single":
        "tests/engine/test_single_settings.py::test_each_training_setting_changes_the_networks_predictions",
    "forecast.lookback|universe":
        "tests/engine/test_universe.py::TestConfig::test_a_universe_batch_may_be_larger_than_its_fitting_days_one_symbols_may_not",
    "forecast.features|single":
        "tests/engine/test_features_lookahead.py::test_future_prices_do_not_change_a_run_with_every_derived_feature",
    "forecast.features|universe":
        "tests/engine/test_panel_features.py::test_a_run_on_ohlcv_and_derived_inputs_scores_every_test_window",
    "universe.processors|universe":
        "tests/engine/test_panel_features.py::test_processors_are_named_in_the_config_and_run",
    "universe.target_processors|universe":
        "tests/engine/test_universe_horizons.py::TestTargetProcessors::test_a_run_trains_on_the_ranked_labels",
    "forecast.representation|single":
        "tests/engine/test_single_settings.py::test_forecast_representation_level_changes_the_linear_forecast",
    "forecast.scaler|single":
        "tests/engine/test_pipeline_lookahead.py::test_the_studies_whole_series_scaler_is_caught_as_look_ahead",
    "forecast.scaler_fit|single":
        "tests/engine/test_pipeline_lookahead.py::test_the_studies_whole_series_scaler_is_caught_as_look_ahead",
    "forecast.layout|single":
        "tests/sweep/test_paper_grid.py::test_the_grid_builds_one_architecture_per_cell_and_keeps_the_papers_39201",
    "forecast.seeds|single":
        "tests/cli/test_plan_estimate.py::test_plan_prints_a_positive_estimate_that_scales_with_epochs_and_models",
    "training.epochs|single":
        "tests/engine/test_features_lookahead.py::test_the_batched_trainer_gets_one_input_per_feature",
    "training.batch_size|single":
        "tests/engine/test_single_settings.py::test_each_training_setting_changes_the_networks_predictions",
    "training.lr|single":
        "tests/engine/test_single_settings.py::test_each_training_setting_changes_the_networks_predictions",
    "training.patience|single": "tests/cli/test_app.py::test_loss_chart_ticks_are_whole_epochs_once_each",
    "training.min_delta|single":
        "tests/engine/test_single_settings.py::test_training_min_delta_stops_when_no_epoch_improves_by_that_much",
    "training.optimizer|single":
        "tests/forecasters/test_trainer.py::test_every_training_option_matches_the_reference_loop",
    "training.momentum|single":
        "tests/forecasters/test_trainer.py::test_every_training_option_matches_the_reference_loop",
    "training.loss|single": "tests/forecasters/test_trainer.py::test_every_training_option_matches_the_reference_loop",
    "training.loss|universe":
        "tests/cli/test_run_universe.py::test_the_median_target_trains_probabilities_and_scores_their_accuracy",
    "training.shuffle|single":
        "tests/core/test_config_networks.py::test_the_networks_guides_example_builds_the_papers_network",
    "training.restore_best|single":
        "tests/core/test_config_networks.py::test_the_networks_guides_example_builds_the_papers_network",
    "training.early_stopping|single":
        "tests/core/test_config_networks.py::test_the_networks_guides_example_builds_the_papers_network",
    "strategies.threshold|single": "tests/runs/test_folder.py::test_two_runs_started_together_never_share_a_folder",
    "strategies.bollinger_window|single":
        "tests/strategies/test_signals.py::test_strategy_states_pass_every_setting_to_its_rule",
    "strategies.bollinger_window|universe":
        "tests/engine/test_universe_rules.py::test_rule_books_hold_by_hand_worked_stocks_at_equal_weights",
    "strategies.bollinger_k|single":
        "tests/strategies/test_signals.py::test_strategy_states_pass_every_setting_to_its_rule",
    "strategies.bollinger_k|universe":
        "tests/engine/test_universe_rules.py::test_rule_books_hold_by_hand_worked_stocks_at_equal_weights",
    "strategies.macd_fast|single":
        "tests/strategies/test_signals.py::test_strategy_states_pass_every_setting_to_its_rule",
    "strategies.macd_slow|single":
        "tests/strategies/test_signals.py::test_strategy_states_pass_every_setting_to_its_rule",
    "strategies.macd_signal|single":
        "tests/strategies/test_signals.py::test_strategy_states_pass_every_setting_to_its_rule",
    "strategies.combine|single": "tests/strategies/test_signals.py::test_combinations_and_vote",
    "strategies.rules|single":
        "tests/engine/test_single_settings.py::test_strategies_rules_are_the_per_model_strategies_traded",
    "strategies.rules|universe":
        "tests/engine/test_universe_rules.py::test_rule_books_trade_in_the_run_and_count_in_the_tests",
    "strategies.direction|single": "tests/sweep/test_spec_trader.py::test_every_trader_key_is_a_grid_key",
    "strategies.sizing|single": "tests/sweep/test_spec_trader.py::test_every_trader_key_is_a_grid_key",
    "strategies.fraction|single": "tests/strategies/test_sizing.py::test_strategy_sizes_give_each_strategy_its_sizing",
    "strategies.target_vol|single":
        "tests/strategies/test_sizing.py::test_vol_target_caps_at_max_leverage_and_reads_the_window",
    "strategies.vol_window|single":
        "tests/engine/test_single_settings.py::test_strategies_vol_window_is_the_window_vol_target_sizing_reads",
    "strategies.max_leverage|single":
        "tests/strategies/test_sizing.py::test_strategy_sizes_give_each_strategy_its_sizing",
    "strategies.stop_loss|single": "tests/sweep/test_spec_trader.py::test_every_trader_key_is_a_grid_key",
    "strategies.take_profit|single": "tests/engine/test_portfolio_trader.py::test_a_take_profit_exits_at_its_level",
    "strategies.trailing_stop|single":
        "tests/engine/test_portfolio_trader.py::test_a_trailing_stop_follows_the_highs_after_the_entry",
    "backtest.init_cash|single": "tests/engine/test_fills.py::test_fractional_shares_are_the_default",
    "backtest.init_cash|universe":
        "tests/engine/test_universe_rules.py::test_a_book_on_change_lets_positions_drift_until_its_weights_change",
    "backtest.fees|single":
        "tests/engine/test_fills.py::test_whole_shares_round_the_all_in_buy_down",
    "backtest.fees|universe": "tests/engine/test_universe_legs.py::test_fees_are_paid_on_both_legs",
    "backtest.tax|single":
        "tests/engine/test_pipeline_lookahead.py::test_both_executions_cover_exactly_the_out_of_sample_days_and_end_in_cash",
    "backtest.slippage|single": "tests/engine/test_pipeline_lookahead.py::test_fills_happen_after_the_decision",
    "backtest.execution|single": "tests/engine/test_pipeline_lookahead.py::test_fills_happen_after_the_decision",
    "backtest.risk_free|single":
        "tests/scoring/test_traders.py::test_sharpe_and_sortino_over_the_risk_free_rate_are_those_of_the_excess_returns",
    "backtest.whole_shares|single":
        "tests/engine/test_portfolio_trader.py::test_whole_shares_and_a_minimum_fee_hold_for_shorts_and_sizes_too",
    "backtest.lot_size|single": "tests/engine/test_fills.py::test_lots_buy_a_multiple_of_the_lot_size",
    "backtest.min_fee|single": "tests/engine/test_fills.py::test_the_minimum_fee_is_a_floor_not_an_addition",
    "backtest.borrow|single":
        "tests/report/test_wording.py::test_the_note_says_the_direction_the_borrow_the_sizing_and_how_stops_fill",
    "statistics.significance|single":
        "tests/scoring/test_evaluation.py::test_statistics_significance_and_mcs_size_are_the_levels_of_the_forecast_tests",
    "statistics.bootstrap_reps|single":
        "tests/engine/test_single_settings.py::test_statistics_bootstrap_reps_and_pbo_blocks_are_the_tests_resamples_and_blocks",
    "statistics.bootstrap_reps|universe":
        "tests/sweep/test_universe_sweep.py::test_a_universe_sweep_runs_each_cell_as_its_standalone_universe_run",
    "statistics.mcs_size|single":
        "tests/scoring/test_evaluation.py::test_statistics_significance_and_mcs_size_are_the_levels_of_the_forecast_tests",
    "statistics.pbo_blocks|single":
        "tests/engine/test_single_settings.py::test_statistics_bootstrap_reps_and_pbo_blocks_are_the_tests_resamples_and_blocks",
    "statistics.pbo_blocks|universe":
        "tests/sweep/test_universe_sweep.py::test_a_universe_sweep_runs_each_cell_as_its_standalone_universe_run",
    "universe.enabled|universe":
        "tests/engine/test_universe_rules.py::test_rule_books_hold_by_hand_worked_stocks_at_equal_weights",
    "universe.layout|universe": "tests/cli/test_run_universe.py::test_a_folder_of_per_symbol_files_runs_end_to_end",
    "universe.min_symbols|universe":
        "tests/engine/test_universe_rules.py::test_rule_books_hold_by_hand_worked_stocks_at_equal_weights",
    "universe.k|universe":
        "tests/engine/test_universe_rules.py::test_rule_books_hold_by_hand_worked_stocks_at_equal_weights",
    "universe.n_drop|universe":
        "tests/engine/test_universe_rules.py::test_rule_books_hold_by_hand_worked_stocks_at_equal_weights",
    "universe.target|universe": "tests/engine/test_universe.py::test_the_median_target_adds_accuracy",
    "backtest.borrow|universe": "tests/engine/test_universe_legs.py::test_borrow_is_charged_on_the_short_legs_value",
    "backtest.whole_shares|universe": "tests/engine/test_universe_costs.py::test_whole_lots_round_every_order_down",
    "backtest.lot_size|universe": "tests/engine/test_universe_costs.py::test_whole_lots_round_every_order_down",
    "backtest.min_fee|universe":
        "tests/engine/test_universe_costs.py::test_a_minimum_fee_floors_every_order_of_both_legs",
    "strategies.direction|universe": "tests/engine/test_universe_costs.py::test_rule_books_trade_the_direction",
    "backtest.risk_free|universe":
        "tests/engine/test_universe_costs.py::test_sharpe_sortino_psr_and_dsr_are_over_the_risk_free_rate",
    "walkforward.embargo|universe":
        "tests/engine/test_universe_horizons.py::test_a_universe_run_with_a_weekly_rank_target",
    "universe.horizon|universe":
        "tests/engine/test_universe_horizons.py::test_a_universe_run_with_a_weekly_rank_target",
    "universe.rebalance|universe":
        "tests/engine/test_rebalance.py::test_topk_dropout_drops_at_most_n_drop_names_a_rebalance",
    "universe.rebalance_on|universe": "tests/engine/test_rebalance.py::test_calendars_by_hand",
    "walkforward.gap|universe":
        "tests/engine/test_universe_horizons.py::TestConfig::test_the_gap_defaults_to_horizon_minus_one_in_a_universe_run",
    "universe.groups|universe":
        "tests/engine/test_universe_groups.py::test_a_run_with_groups_writes_the_ic_within_each_group",
    "universe.neutral|universe":
        "tests/engine/test_universe_groups.py::test_a_run_with_groups_writes_the_ic_within_each_group",
    "run.out_dir|universe":
        "tests/engine/test_universe_settings.py::test_run_out_dir_is_where_the_universe_folder_goes",
    "run.threads|universe":
        "tests/engine/test_universe_settings.py::test_run_threads_is_the_count_the_pooled_networks_train_with_and_resume_pins",
    "data.end|universe": "tests/engine/test_universe_settings.py::test_data_end_cuts_every_stocks_last_day",
    "data.date_format|universe":
        "tests/engine/test_universe_settings.py::test_data_date_format_says_how_undecidable_dates_read",
    "data.timezone|universe":
        "tests/engine/test_universe_settings.py::test_data_timezone_dates_utc_times_on_the_exchanges_day",
    "walkforward.window|universe":
        "tests/engine/test_universe_settings.py::test_walkforward_window_fits_the_pooled_linear_model_on_its_rows",
    "walkforward.max_folds|universe":
        "tests/engine/test_universe_settings.py::test_walkforward_max_folds_keeps_the_last_folds",
    "forecast.seeds|universe":
        "tests/engine/test_universe_settings.py::test_each_training_setting_changes_the_pooled_networks_scores",
    "training.lr|universe":
        "tests/engine/test_universe_settings.py::test_each_training_setting_changes_the_pooled_networks_scores",
    "training.min_delta|universe":
        "tests/engine/test_universe_settings.py::test_each_training_setting_changes_the_pooled_networks_scores",
    "training.restore_best|universe":
        "tests/engine/test_universe_settings.py::test_each_training_setting_changes_the_pooled_networks_scores",
    "training.epochs|universe":
        "tests/engine/test_universe_settings.py::test_each_training_setting_changes_the_pooled_networks_scores",
    "training.patience|universe":
        "tests/engine/test_universe_settings.py::test_each_training_setting_changes_the_pooled_networks_scores",
    "training.batch_size|universe":
        "tests/engine/test_universe_settings.py::test_each_training_setting_changes_the_pooled_networks_scores",
    "training.optimizer|universe":
        "tests/engine/test_universe_settings.py::test_each_training_setting_changes_the_pooled_networks_scores",
    "training.momentum|universe":
        "tests/engine/test_universe_settings.py::test_each_training_setting_changes_the_pooled_networks_scores",
    "training.shuffle|universe":
        "tests/engine/test_universe_settings.py::test_each_training_setting_changes_the_pooled_networks_scores",
    "training.early_stopping|universe":
        "tests/engine/test_universe_settings.py::test_each_training_setting_changes_the_pooled_networks_scores",
    "strategies.threshold|universe":
        "tests/engine/test_universe_settings.py::test_strategies_threshold_holds_only_the_scores_above_it",
    "strategies.macd_fast|universe":
        "tests/engine/test_universe_settings.py::test_the_macd_book_reads_each_macd_setting",
    "strategies.macd_slow|universe":
        "tests/engine/test_universe_settings.py::test_the_macd_book_reads_each_macd_setting",
    "strategies.macd_signal|universe":
        "tests/engine/test_universe_settings.py::test_the_macd_book_reads_each_macd_setting",
    "strategies.combine|universe":
        "tests/engine/test_universe_settings.py::test_strategies_combine_joins_the_forecast_and_macd_by_all_or_any",
    "backtest.slippage|universe":
        "tests/engine/test_universe_settings.py::test_backtest_slippage_moves_every_fill_against_the_book",
    "statistics.significance|universe":
        "tests/engine/test_universe_settings.py::test_statistics_significance_is_the_level_of_every_verdict",
    "universe.books|universe":
        "tests/engine/test_universe_settings.py::test_universe_books_are_the_books_each_scorer_gets",
    "universe.memory_gb|universe":
        "tests/engine/test_universe_settings.py::test_universe_memory_gb_trains_the_folds_in_chunks_saved_one_by_one",
    "universe.networks|universe":
        "tests/engine/test_pooled.py::test_a_per_symbol_member_equals_training_that_symbol_alone",
    "universe.symbol_column|universe":
        "tests/data/test_universe.py::TestInputs::test_symbol_column_set_by_name_and_a_wrong_name_is_refused",
    "universe.leg_gross|universe": "tests/engine/test_universe_costs.py::test_whole_lots_round_every_order_down",
    "universe.enabled|single":
        "tests/engine/test_universe.py::TestConfig::test_a_single_symbol_config_has_no_universe_section",
}

# applied by the kind, but no test yet sets the key in a run of that kind and checks what changes
NO_TEST_YET: set[str] = set()

# what a test calls a key when it tests the function behind it rather than the setting
ALIASES = {"universe.rebalance_on": "rebalance_days"}

KEYS = [s.key for s in settings() if not s.key.startswith("networks.")]  # [networks.NAME]: test_config_networks
WALK = [(key, kind) for key in KEYS for kind in (SINGLE, UNIVERSE)]


def _test_source(node_id: str) -> str:
    """The source of a test function (decorators included), from its node id; fails when pytest would not
    collect it: no such file, class or function, or a name that is not a test's."""
    path, *names = node_id.split("::")
    assert (ROOT / path).is_file(), f"{node_id}: no file {path}"
    assert names and names[-1].startswith("test_") and all(n.startswith("Test") for n in names[:-1]), node_id
    text = (ROOT / path).read_text(encoding="utf-8")
    body = ast.parse(text).body
    for name in names:
        node = next((n for n in body if isinstance(n, ast.FunctionDef | ast.ClassDef) and n.name == name), None)
        assert node is not None, f"{node_id}: no {name}"
        body = node.body
    start = min([d.lineno for d in getattr(node, "decorator_list", [])] + [node.lineno])
    return "\n".join(text.splitlines()[start - 1: node.end_lineno])


def _sample(key: str) -> str:
    """A value of the key's type other than its default, for keys SAMPLES does not list."""
    s = next(s for s in settings() if s.key == key)
    if s.choices:
        return repr(next(c for c in s.choices if f'"{c}"' != s.default))
    return {"true/false": "false" if s.default == "true" else "true", "integer": f"{int(s.default) + 1}",
            "number": f"{float(s.default) + 1.0}"}.get(s.type, s.default)


@pytest.mark.parametrize(("key", "kind"), WALK)
def test_every_key_is_applied_or_refused_by_name(key, kind):
    pair = f"{key}|{kind}"
    if not applies(key, kind):
        assert pair not in EVIDENCE and pair not in NO_TEST_YET
        with pytest.raises(ConfigError) as caught:
            load_config(None, [*BASE[kind], f"{key}={SAMPLES.get(key) or _sample(key)}"])
        message = str(caught.value)
        assert message.startswith(key) and KIND_NAMES[kind] in message  # a check of its own may come first
        instead = UNIVERSE_REFUSES[key][1] if kind == UNIVERSE else "set universe.enabled = true"
        assert instead.lower() in message.lower()
        return
    assert (pair in EVIDENCE) != (pair in NO_TEST_YET), f"{pair}: name a test that shows it applies"
    if pair in EVIDENCE:
        source = _test_source(EVIDENCE[pair])
        assert any(name in source for name in (key, key.split(".")[1], ALIASES.get(key, key))), EVIDENCE[pair]


def test_the_tables_name_only_keys_of_the_reference():
    pairs = {f"{key}|{kind}" for key, kind in WALK}
    assert set(EVIDENCE) <= pairs and NO_TEST_YET <= pairs and set(UNIVERSE_REFUSES) <= set(KEYS)


def test_a_key_at_its_default_is_accepted_by_either_kind():
    assert load_config(None, [*BASE[UNIVERSE], "backtest.tax=0.0", "strategies.direction='long'"]).universe.enabled
    assert load_config(None, [*BASE[UNIVERSE], "forecast.features=['close']"]).forecast.features == ["close"]
    assert not load_config(None, ["universe.k=10"]).universe.enabled


def test_settings_say_the_kinds_of_each_key():
    rows = {s.key: s for s in settings()}
    assert rows["backtest.tax"].runs == "single" and rows["universe.k"].runs == "universe"
    assert rows["backtest.fees"].runs == "both" and rows["universe.enabled"].runs == "both"
    assert kinds("networks.NAME.hidden") == (SINGLE, UNIVERSE)


@pytest.mark.parametrize(("old", "new", "value"), [
    ("universe.models", "forecast.models", "['lstm']"), ("universe.rules", "strategies.rules", "[]"),
    ("universe.borrow", "backtest.borrow", "0.01"),
])
def test_the_universes_old_keys_are_refused_with_the_new_name(old, new, value):
    with pytest.raises(ConfigError, match=rf"^{old} is now {new}, one key for both kinds of run"):
        load_config(None, [*BASE[UNIVERSE], f"{old}={value}"])


def test_a_universe_leaves_models_and_rules_at_its_own_defaults():
    config = load_config(None, BASE[UNIVERSE])
    assert config.forecast.models == [] and config.strategies.rules == ["forecast", "vote"]
    config = load_config(None, [*BASE[UNIVERSE], "forecast.models=['lstm']", "strategies.rules=['macd']",
                                "backtest.borrow=0.01"])
    assert (config.forecast.models, config.strategies.rules, config.backtest.borrow) == (["lstm"], ["macd"], 0.01)
    assert load_config(None, []).forecast.models[0] == "linear"  # a single symbol's default is untouched
    with pytest.raises(ConfigError, match="strategies.rules: unknown rule 'macd'"):  # a universe's own book
        load_config(None, ["strategies.rules=['macd']"])
