#!/usr/bin/env sh
# Regenerates the sample study in this directory (study.yaml, participants.csv,
# responses.csv, truth.json) with the simulator and a fixed seed. README.md is not touched.
# Run from anywhere:  sh data/sample/generate.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
python -m mentor_eval simulate --participants 1200 --seed 2026 --sites 3 \
  --arms control,narrative_weaving,storytelling_circles,strength_spotlight,cultural_navigator,community_of_practice \
  --attrition 0.20 --differential-attrition 0.05 --item-missing 0.02 \
  --icc-site 0.05 --icc-mentor 0.10 --cluster-onset baseline \
  --name "Riverside Mentoring Evaluation (synthetic sample)" --out "$here"
