# Reference values for prepost(..., clusters = "mentor_id"): the within-arm mean change with the
# CR2 covariance and Satterthwaite df (clubSandwich), for the clustered arm of data.csv.
# Run from this folder: Rscript make_reference.R
library(clubSandwich)
library(jsonlite)
d <- read.csv("data.csv")
t <- d[d$arm == "circles", ]
t$change <- t$post - t$pre
fit <- lm(change ~ 1, data = t)
ct <- coef_test(fit, vcov = "CR2", cluster = t$mentor_id, test = "Satterthwaite")
ci <- conf_int(fit, vcov = "CR2", cluster = t$mentor_id, level = 0.95)
out <- list(
  estimate = unname(coef(fit)[1]), se = ct$SE[1], df = ct$df_Satt[1], t = ct$tstat[1],
  p = ct$p_Satt[1], ci_low = ci$CI_L[1], ci_high = ci$CI_U[1], sd_change = sd(t$change),
  n = nrow(t), se_unclustered = sd(t$change) / sqrt(nrow(t)),
  versions = list(R = R.version.string, clubSandwich = as.character(packageVersion("clubSandwich")))
)
write_json(out, "expected.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
