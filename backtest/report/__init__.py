"""What a person reads: the words, the console tables, report.html and equity.png, and publishing a run."""
