"""`clinhallu-tasks judge-agreement`: two judged runs over the same model outputs, compared.

stats.py is the pure core (kappa, agreement, mean absolute difference, Spearman, bootstrap);
pairing.py reads the two runs' record files and pairs their verdicts by item; comparison.py turns
the pairs into rows and disagreements; command.py is the console command.
"""
