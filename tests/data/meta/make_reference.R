# Reference values for tests/test_meta.py, computed with metafor's rma().
# Run from this folder:  Rscript make_reference.R
# Writes bcg.csv, molloy.csv, homogeneous.csv (data) and expected.json (metafor's results).
suppressPackageStartupMessages({library(metafor); library(jsonlite)})

ctrl <- list(threshold = 1e-12, maxiter = 10000, stepadj = 1)

fit_summary <- function(fit, pi_riley) {
  p <- predict(fit)
  r <- predict(fit, pi.type = "riley")
  list(estimate = as.numeric(fit$beta[1]), se = fit$se[1], stat = fit$zval[1], p = fit$pval[1],
       ci_low = fit$ci.lb[1], ci_high = fit$ci.ub[1], tau2 = fit$tau2, se_tau2 = fit$se.tau2,
       i2 = fit$I2, h2 = fit$H2, q = fit$QE, q_df = fit$k - fit$p, q_p = fit$QEp, k = fit$k,
       pi_low = p$pi.lb, pi_high = p$pi.ub,                   # metafor's default PI
       pi_low_riley = r$pi.lb, pi_high_riley = r$pi.ub,       # t_{k-2} (Higgins/Riley)
       df = if (is.null(fit$ddf) || is.na(fit$ddf[1])) NA else fit$ddf[1],
       loglik = as.numeric(logLik(fit)))
}

loo_summary <- function(fit) {
  l <- leave1out(fit)
  rs <- rstudent(fit)
  list(estimate = l$estimate, se = l$se, ci_low = l$ci.lb, ci_high = l$ci.ub, tau2 = l$tau2,
       i2 = l$I2, q = l$Q, rstudent = rs$z)
}

out <- list(metafor_version = as.character(packageVersion("metafor")))

# 1. BCG vaccine trials (Colditz et al. 1994), log risk ratios
bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
bcg <- data.frame(study = paste0(bcg$author, " ", bcg$year), trial = bcg$trial, yi = as.numeric(bcg$yi),
                  vi = as.numeric(bcg$vi), ablat = bcg$ablat, year = bcg$year, alloc = bcg$alloc)
write.csv(bcg, "bcg.csv", row.names = FALSE)
cases <- list()
for (m in c("REML", "DL")) for (t in c("z", "knha")) {
  f <- rma(yi, vi, data = bcg, method = m, test = t, control = ctrl)
  cases[[paste0("bcg_", m, "_", t)]] <- c(fit_summary(f), list(loo = loo_summary(f)))
}
fe <- rma(yi, vi, data = bcg, method = "FE")
cases[["bcg_FE_z"]] <- fit_summary(fe)

# 2. Molloy et al. (2014): conscientiousness and medication adherence, Fisher z of r
mol <- escalc(measure = "ZCOR", ri = ri, ni = ni, data = dat.molloy2014)
mol <- data.frame(study = paste0(mol$authors, " ", mol$year), yi = as.numeric(mol$yi), vi = as.numeric(mol$vi),
                  controls = mol$controls, meanage = mol$meanage)
write.csv(mol, "molloy.csv", row.names = FALSE)
for (t in c("z", "knha")) {
  f <- rma(yi, vi, data = mol, method = "REML", test = t, control = ctrl)
  cases[[paste0("molloy_REML_", t)]] <- c(fit_summary(f), list(loo = loo_summary(f)))
}

# 3. A homogeneous set: REML's tau^2 is truncated at zero
hom <- data.frame(study = paste0("s", 1:6), yi = c(0.30, 0.32, 0.28, 0.31, 0.29, 0.33),
                  vi = c(0.04, 0.05, 0.03, 0.06, 0.04, 0.05))
write.csv(hom, "homogeneous.csv", row.names = FALSE)
for (m in c("REML", "DL")) {
  f <- rma(yi, vi, data = hom, method = m, control = ctrl)
  cases[[paste0("hom_", m, "_z")]] <- fit_summary(f)
}
out$cases <- cases

# 4. Meta-regressions
reg_summary <- function(f) {
  list(coef_names = rownames(f$beta), estimate = as.numeric(f$beta), se = f$se, stat = f$zval, p = f$pval,
       ci_low = f$ci.lb, ci_high = f$ci.ub, tau2 = f$tau2, i2 = f$I2, h2 = f$H2, r2 = f$R2,
       qe = f$QE, qe_p = f$QEp, qm = f$QM, qm_p = f$QMp, qm_df = f$QMdf, k = f$k)
}
regs <- list()
regs$bcg_ablat_REML_z <- reg_summary(rma(yi, vi, mods = ~ ablat, data = bcg, method = "REML", control = ctrl))
regs$bcg_ablat_year_REML_knha <- reg_summary(rma(yi, vi, mods = ~ ablat + year, data = bcg, method = "REML",
                                                 test = "knha", control = ctrl))
regs$bcg_alloc_REML_knha <- reg_summary(rma(yi, vi, mods = ~ factor(alloc), data = bcg, method = "REML",
                                            test = "knha", control = ctrl))
regs$bcg_ablat_DL_z <- reg_summary(rma(yi, vi, mods = ~ ablat, data = bcg, method = "DL", control = ctrl))
regs$molloy_meanage_controls_REML_z <- reg_summary(rma(yi, vi, mods = ~ meanage + factor(controls), data = mol,
                                                       method = "REML", control = ctrl))
out$regressions <- regs

writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, na = "null", pretty = TRUE), "expected.json")
