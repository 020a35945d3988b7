# Reference values for the random-effect covariate z of mentor_eval.outcomes.lmm
# (partially nested designs). Run from this directory: Rscript make_reference.R
# Writes ancova.csv, longitudinal.csv and expected.json. Needs lme4, lmerTest, emmeans, jsonlite.
suppressPackageStartupMessages({library(lme4); library(lmerTest); library(emmeans); library(jsonlite)})

set.seed(20261202)
# ---- 1. partially nested ANCOVA: 150 control, 15 mentors x 10 mentees, 5 sites;
# the mentor effect is on the post-test only (matching happens after baseline).
n_ctrl <- 150; n_mentor <- 15; per <- 10
n_trt <- n_mentor * per
mentor_sd <- sqrt(0.2)
pre <- rnorm(n_ctrl + n_trt)
treated <- c(rep(0, n_ctrl), rep(1, n_trt))
mentor_num <- c(rep(NA, n_ctrl), rep(seq_len(n_mentor), each = per))
site_of_mentor <- rep(1:5, length.out = n_mentor)
site <- ifelse(treated == 1, site_of_mentor[pmax(mentor_num, 1)], sample(1:5, n_ctrl + n_trt, TRUE))
u_m <- rnorm(n_mentor, 0, mentor_sd)
u_s <- rnorm(5, 0, 0.3)
post <- 0.5 * pre + 0.15 * treated + ifelse(treated == 1, u_m[pmax(mentor_num, 1)], 0) +
  u_s[site] + rnorm(n_ctrl + n_trt, 0, 0.8)
anc <- data.frame(
  participant = sprintf("P%03d", seq_along(pre)),
  site = sprintf("S%d", site),
  mentor = ifelse(treated == 1, sprintf("M%02d", mentor_num), "none"),
  arm = ifelse(treated == 1, "mentoring", "control"),
  treated = treated, pre = pre, post = post)
write.csv(anc, "ancova.csv", row.names = FALSE)

summ <- function(m, coef_names) {
  s <- summary(m)$coefficients
  vc <- as.data.frame(VarCorr(m))
  list(
    REML_criterion = unname(REMLcrit(m)),
    fixef = as.list(fixef(m)),
    se = as.list(setNames(s[, "Std. Error"], rownames(s))),
    df = as.list(setNames(s[, "df"], rownames(s))),
    t = as.list(setNames(s[, "t value"], rownames(s))),
    p = as.list(setNames(s[, "Pr(>|t|)"], rownames(s))),
    varcomp = setNames(as.list(vc$vcov), vc$grp),
    theta = unname(getME(m, "theta")),
    singular = isSingular(m),
    ngrps = as.list(ngrps(m))
  )
}

ctrl <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhobeg = 2e-4, rhoend = 2e-10, maxfun = 1e5))
m1 <- lmer(post ~ pre + arm + (0 + treated | mentor), data = anc, REML = TRUE, control = ctrl)
m2 <- lmer(post ~ pre + arm + (1 | site) + (0 + treated | site:mentor), data = anc, REML = TRUE,
           control = ctrl)
m1ml <- lmer(post ~ pre + arm + (0 + treated | mentor), data = anc, REML = FALSE, control = ctrl)

# ---- 2. longitudinal: 3 waves; 60 control, 12 mentors x 5 mentees; the mentor effect applies
# to the post-baseline waves of treated participants only.
n_c <- 60; n_m <- 12; per2 <- 5; n_t <- n_m * per2; np <- n_c + n_t
tr <- c(rep(0, n_c), rep(1, n_t))
mnum <- c(rep(NA, n_c), rep(seq_len(n_m), each = per2))
b_p <- rnorm(np, 0, 0.9)
u_m2 <- rnorm(n_m, 0, 0.5)
waves <- c("baseline", "midpoint", "post")
long <- expand.grid(w = 1:3, id = seq_len(np))
long$participant <- sprintf("Q%03d", long$id)
long$wave <- factor(waves[long$w], levels = waves)
long$arm <- ifelse(tr[long$id] == 1, "mentoring", "control")
long$mentor <- ifelse(tr[long$id] == 1, sprintf("M%02d", mnum[long$id]), "none")
long$post_treated <- as.numeric(long$w > 1 & tr[long$id] == 1)
long$y <- 3 + 0.1 * (long$w - 1) + 0.2 * (long$w - 1) * tr[long$id] + b_p[long$id] +
  long$post_treated * ifelse(is.na(mnum[long$id]), 0, u_m2[pmax(mnum[long$id], 1, na.rm = TRUE)]) + rnorm(nrow(long), 0, 0.6)
# a few missing waves (MAR-free, at random) so the design is unbalanced
drop <- sample(nrow(long), 20)
long <- long[-drop, c("participant", "wave", "arm", "mentor", "post_treated", "y")]
write.csv(long, "longitudinal.csv", row.names = FALSE)
long$arm <- factor(long$arm, levels = c("control", "mentoring"))
m3 <- lmer(y ~ wave * arm + (1 | participant) + (0 + post_treated | mentor), data = long,
           REML = TRUE, control = ctrl)
# arm difference at post: arm + wave[post]:arm
L <- matrix(0, 1, length(fixef(m3))); colnames(L) <- names(fixef(m3))
L[1, "armmentoring"] <- 1; L[1, "wavepost:armmentoring"] <- 1
ct <- contest(m3, L, joint = FALSE)
em <- as.data.frame(emmeans(m3, ~ wave * arm, lmer.df = "satterthwaite"))

out <- list(
  ancova_partially_nested = summ(m1),
  ancova_site_partially_nested = summ(m2),
  ancova_partially_nested_ml = c(summ(m1ml), list(deviance = unname(deviance(m1ml)),
                                                   logLik = as.numeric(logLik(m1ml)))),
  longitudinal_post_baseline = c(summ(m3), list(contrast_post_arm = list(
    estimate = ct$Estimate, se = ct[["Std. Error"]], df = ct$df, p = ct[["Pr(>|t|)"]]),
    emmeans = list(wave = as.character(em$wave), arm = as.character(em$arm), emmean = em$emmean,
                   se = em$SE, df = em$df))),
  versions = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                  lmerTest = as.character(packageVersion("lmerTest")))
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "expected.json")
