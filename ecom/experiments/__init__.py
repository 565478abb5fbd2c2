"""A/B testing on the experiment marts: design (power), analysis (tea-tasting), sequential and
Bayesian reads, and the generated design doc and decision memo."""
