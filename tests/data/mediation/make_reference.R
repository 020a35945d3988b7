# Reference values for tests/test_mediation.py: lavaan sem() (ML) for the half-longitudinal
# path model that mentor_eval.mediation fits for arm "nw" vs "control" on data.csv.
# Run from this directory: Rscript make_reference.R  (writes expected.json)
suppressPackageStartupMessages({library(lavaan); library(jsonlite)})
d <- read.csv("data.csv")
model <- '
  m_mid  ~ a*treat + m_pre + y_pre + age + female
  y_post ~ cp*treat + b*m_mid + m_pre + y_pre + age + female
  indirect   := a*b
  total      := cp + a*b
  proportion := a*b / (cp + a*b)
'
fit <- sem(model, data = d, estimator = "ML")
pe <- parameterEstimates(fit)
get <- function(lbl) pe[pe$label == lbl, c("est", "se")]
out <- list()
for (l in c("a", "b", "cp", "indirect", "total", "proportion")) {
  v <- get(l)
  out[[l]] <- list(est = v$est, se = v$se)
}
out$n <- nobs(fit)
out$lavaan_version <- as.character(packageVersion("lavaan"))
out$model <- model
write(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "expected.json")
