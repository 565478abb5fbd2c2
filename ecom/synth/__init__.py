"""TheLook-shaped synthetic data with planted ground truth (`ecom generate`).

`generate_dataset` writes the CSVs and `_truth/`; `truth.load_truth` and
`truth.true_churn_probability` read the truth back as an oracle for model evaluation.
"""

from ecom.synth.generate import GenerationSummary, generate_dataset

__all__ = ["GenerationSummary", "generate_dataset"]
