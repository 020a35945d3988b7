# Reference values for the Monte Carlo (CR2) rows of tests/test_mediation.py: for each equation
# mentor_eval.mediation fits on clustered.csv (arm "nw" vs "control", covariate age), the CR2 SE
# and Satterthwaite df of clubSandwich with the lme4 REML random-intercept model as the working
# covariance (target = Phi; the mentor intercept carried only by mentored participants, control
# participants their own clusters), and the same without a cluster (every participant a cluster
# of one, no target: HC2).
# Run from this directory: Rscript make_reference_cr2.R  (writes expected_cr2.json)
suppressPackageStartupMessages({library(clubSandwich); library(lme4); library(jsonlite)})
d <- read.csv("clustered.csv", na.strings = "", stringsAsFactors = FALSE)
d$in_mentor <- as.numeric(!is.na(d$mentor_id))
d$mentor <- ifelse(is.na(d$mentor_id), "none", d$mentor_id)
d$cl <- ifelse(is.na(d$mentor_id), d$participant_id, d$mentor_id)
same <- function(v) { k <- outer(v, v, "=="); k[is.na(k)] <- FALSE; k * 1 }
eqs <- list(
  a = list(f = m_mid ~ treat + m_pre + y_pre + age, term = "treat"),
  b = list(f = y_post ~ treat + m_mid + m_pre + y_pre + age, term = "m_mid"),
  direct = list(f = y_post ~ treat + m_mid + m_pre + y_pre + age, term = "treat"),
  total = list(f = y_post ~ treat + m_pre + y_pre + age, term = "treat"))
out <- list(versions = list(R = R.version.string, clubSandwich = as.character(packageVersion("clubSandwich")),
                            lme4 = as.character(packageVersion("lme4"))), n = nrow(d))
for (k in names(eqs)) {
  f <- eqs[[k]]$f
  fit <- lm(f, data = d)
  mm <- lmer(update(f, . ~ . + (0 + in_mentor | mentor)), data = d, REML = TRUE,
             control = lmerControl(optimizer = "bobyqa", optCtrl = list(rhobeg = 0.2, rhoend = 1e-10)))
  vc <- as.data.frame(VarCorr(mm))
  tau2 <- vc$vcov[vc$grp == "mentor"]
  s2 <- vc$vcov[vc$grp == "Residual"]
  Phi <- s2 * diag(nrow(d)) + tau2 * same(d$mentor_id)
  ct <- coef_test(fit, vcov = vcovCR(fit, cluster = d$cl, type = "CR2", target = Phi), test = "Satterthwaite")
  hc <- coef_test(fit, vcov = vcovCR(fit, cluster = d$participant_id, type = "CR2"), test = "Satterthwaite")
  i <- which(names(coef(fit)) == eqs[[k]]$term)
  out[[k]] <- list(estimate = unname(coef(fit)[i]), se = ct$SE[i], df = ct$df_Satt[i], p = ct$p_Satt[i],
                   tau2 = tau2, sigma2 = s2, se_hc2 = hc$SE[i], df_hc2 = hc$df_Satt[i])
}
write(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "expected_cr2.json")
