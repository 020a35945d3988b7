from mentor_eval.cli import entry_point

entry_point()
