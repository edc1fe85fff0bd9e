"""Run folders: claimed and locked, a checkpoint as a run goes, the stored artifacts read back, comparisons."""
