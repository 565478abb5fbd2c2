"""TheLook-shaped synthetic data (`ecom generate`): the demo world with planted ground truth, or
TheLook's own generator process (`profile="thelook"`, no truth).

`generate_dataset` writes the CSVs and, for the default profile, `_truth/`; `truth.load_truth`
and `truth.true_churn_probability` read the truth back as an oracle for model evaluation;
`figures.process_figures` measures a folder against TheLook's process.
"""

from ecom.synth.generate import GenerationSummary, generate_dataset

__all__ = ["GenerationSummary", "generate_dataset"]
