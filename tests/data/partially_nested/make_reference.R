# Reference values for tests/test_clustered.py (run from this folder: Rscript make_reference.R).
# (a) OLS ANCOVA with clubSandwich's CR2 covariance and Satterthwaite df (coefficients,
#     adjusted means, contrasts), participants without a mentor/group being their own cluster;
# (b) the partially nested REML model of lme4/lmerTest,
#     post ~ pre + age + arm + (0 + in_mentor | mentor) + (0 + in_group | group),
#     participants outside an arm's clusters given a placeholder level and a zero covariate,
#     with Satterthwaite df and emmeans contrasts.
# The fully nested file repeats both with every participant in a cluster.
suppressPackageStartupMessages({
  library(clubSandwich); library(lme4); library(lmerTest); library(emmeans); library(jsonlite)
})
emm_options(lmer.df = "satterthwaite")

out <- list(versions = list(R = R.version.string,
                            clubSandwich = as.character(packageVersion("clubSandwich")),
                            lme4 = as.character(packageVersion("lme4")),
                            lmerTest = as.character(packageVersion("lmerTest")),
                            emmeans = as.character(packageVersion("emmeans"))))

cr2_block <- function(fit, cluster, L_emm, L_con) {
  V <- vcovCR(fit, cluster = cluster, type = "CR2")
  ct <- coef_test(fit, vcov = V, test = "Satterthwaite")
  emm <- linear_contrast(fit, vcov = V, contrasts = L_emm, test = "Satterthwaite", p_values = TRUE)
  con <- linear_contrast(fit, vcov = V, contrasts = L_con, test = "Satterthwaite", p_values = TRUE)
  list(coef = list(term = names(coef(fit)), estimate = unname(coef(fit)), se = ct$SE, df = ct$df_Satt,
                   p = ct$p_Satt),
       vcov = unname(as.matrix(V)),
       emmeans = list(estimate = emm$Est, se = emm$SE, df = emm$df),
       contrasts = list(name = rownames(L_con), estimate = con$Est, se = con$SE, df = con$df, p = con$p_val),
       se_ols = unname(sqrt(diag(vcov(fit)))))
}

# ------------------------------------------------------------------ partially nested
d <- read.csv("data.csv", stringsAsFactors = FALSE, na.strings = "")
d$arm <- factor(d$arm, levels = c("control", "group", "mentor"))
d$cl <- ifelse(!is.na(d$mentor_id), d$mentor_id, ifelse(!is.na(d$group_id), d$group_id, d$participant_id))
fit <- lm(post ~ pre + age + arm, data = d)
grid <- c(1, mean(d$pre), mean(d$age))
L_emm <- rbind(control = c(grid, 0, 0), group = c(grid, 1, 0), mentor = c(grid, 0, 1))
L_con <- rbind(`group - control` = c(0, 0, 0, 1, 0), `mentor - control` = c(0, 0, 0, 0, 1),
               `control - group` = c(0, 0, 0, -1, 0), `control - mentor` = c(0, 0, 0, 0, -1),
               `group - mentor` = c(0, 0, 0, 1, -1))
pn <- cr2_block(fit, d$cl, L_emm, L_con)
wt <- Wald_test(fit, constraints = constrain_zero(c("armgroup", "armmentor")),
                vcov = vcovCR(fit, cluster = d$cl, type = "CR2"), test = "HTZ")
pn$wald_arm <- list(F = wt$Fstat, df_num = wt$df_num, df_denom = wt$df_denom, p = wt$p_val)

d$in_mentor <- as.numeric(!is.na(d$mentor_id))
d$in_group <- as.numeric(!is.na(d$group_id))
d$mentor <- ifelse(is.na(d$mentor_id), "none", d$mentor_id)
d$group <- ifelse(is.na(d$group_id), "none", d$group_id)
m <- lmer(post ~ pre + age + arm + (0 + in_mentor | mentor) + (0 + in_group | group), data = d, REML = TRUE,
          control = lmerControl(optimizer = "bobyqa", optCtrl = list(rhobeg = 0.2, rhoend = 1e-10)))
sm <- summary(m)$coefficients
vc <- as.data.frame(VarCorr(m))
e <- emmeans(m, "arm")
es <- summary(e)
ctrl <- summary(contrast(e, "trt.vs.ctrl", ref = 1, adjust = "none"))
pw <- summary(pairs(e, adjust = "none"))
an <- anova(m, type = 2, ddf = "Satterthwaite")
pn$mixed_anova <- list(term = rownames(an), F = unname(an[["F value"]]), df_denom = unname(an[["DenDF"]]),
                       p = unname(an[["Pr(>F)"]]))
pn$mixed <- list(
  coef = list(term = rownames(sm), estimate = unname(sm[, "Estimate"]), se = unname(sm[, "Std. Error"]),
              df = unname(sm[, "df"])),
  var = list(mentor = vc$vcov[vc$grp == "mentor"], group = vc$vcov[vc$grp == "group"],
             residual = vc$vcov[vc$grp == "Residual"]),
  reml = as.numeric(REMLcrit(m)),
  emmeans = list(arm = as.character(es$arm), estimate = es$emmean, se = es$SE, df = es$df),
  contrasts = list(name = c(as.character(ctrl$contrast), as.character(pw$contrast)),
                   estimate = c(ctrl$estimate, pw$estimate), se = c(ctrl$SE, pw$SE), df = c(ctrl$df, pw$df),
                   p = c(ctrl$p.value, pw$p.value)))
# (c) CR2 with the REML random-intercept model as the working covariance (clubSandwich's
#     target = Phi, inverse_var = FALSE): Phi = sigma2 I + tau2_mentor Z_m Z_m' + tau2_group Z_g Z_g'
#     over the members of each level, from the lmer fit above.
same <- function(v) { k <- outer(v, v, "=="); k[is.na(k)] <- FALSE; k * 1 }
Phi <- pn$mixed$var$residual * diag(nrow(d)) + pn$mixed$var$mentor * same(d$mentor_id) +
  pn$mixed$var$group * same(d$group_id)
Vt <- vcovCR(fit, cluster = d$cl, type = "CR2", target = Phi)
ctt <- coef_test(fit, vcov = Vt, test = "Satterthwaite")
wtt <- Wald_test(fit, constraints = constrain_zero(c("armgroup", "armmentor")), vcov = Vt, test = "HTZ")
# linear_contrast() fails with a target in this clubSandwich version, so the adjusted means and the
# group - mentor contrast come from coef_test() on reparameterised fits (same column space, so the
# same CR2 covariance and df): covariates centred at their means, each arm in turn the reference.
ref_fit <- function(ref) {
  dd <- transform(d, arm = relevel(arm, ref = ref), pre = pre - mean(pre), age = age - mean(age))
  f <- lm(post ~ pre + age + arm, data = dd)
  coef_test(f, vcov = vcovCR(f, cluster = dd$cl, type = "CR2", target = Phi), test = "Satterthwaite")
}
emm_t <- lapply(c("control", "group", "mentor"), function(a) ref_fit(a)[1, ])
gm <- ref_fit("mentor")
gm <- gm[rownames(gm) == "armgroup" | gm$Coef == "armgroup", ]
con_se <- c(ctt$SE[4:5], ctt$SE[4:5], gm$SE)
con_df <- c(ctt$df_Satt[4:5], ctt$df_Satt[4:5], gm$df_Satt)
con_p <- c(ctt$p_Satt[4:5], ctt$p_Satt[4:5], gm$p_Satt)
pn$cr2_target <- list(
  coef = list(term = names(coef(fit)), se = ctt$SE, df = ctt$df_Satt, p = ctt$p_Satt),
  emmeans = list(se = sapply(emm_t, function(r) r$SE), df = sapply(emm_t, function(r) r$df_Satt)),
  contrasts = list(name = rownames(L_con), se = con_se, df = con_df, p = con_p),
  wald_arm = list(F = wtt$Fstat, df_denom = wtt$df_denom, p = wtt$p_val))
out$partially_nested <- pn

# ------------------------------------------------------------------ fully nested
f <- read.csv("fully_nested.csv", stringsAsFactors = FALSE)
f$arm <- factor(f$arm, levels = c("control", "mentor"))
ffit <- lm(post ~ pre + arm, data = f)
fgrid <- c(1, mean(f$pre))
fn <- cr2_block(ffit, f$mentor_id, rbind(control = c(fgrid, 0), mentor = c(fgrid, 1)),
                rbind(`mentor - control` = c(0, 0, 1)))
fm <- lmer(post ~ pre + arm + (1 | mentor_id), data = f, REML = TRUE,
           control = lmerControl(optimizer = "bobyqa", optCtrl = list(rhobeg = 0.2, rhoend = 1e-10)))
fsm <- summary(fm)$coefficients
fvc <- as.data.frame(VarCorr(fm))
fe <- summary(emmeans(fm, "arm"))
fc <- summary(contrast(emmeans(fm, "arm"), "trt.vs.ctrl", ref = 1, adjust = "none"))
fn$mixed <- list(
  coef = list(term = rownames(fsm), estimate = unname(fsm[, "Estimate"]), se = unname(fsm[, "Std. Error"]),
              df = unname(fsm[, "df"])),
  var = list(mentor = fvc$vcov[fvc$grp == "mentor_id"], residual = fvc$vcov[fvc$grp == "Residual"]),
  emmeans = list(arm = as.character(fe$arm), estimate = fe$emmean, se = fe$SE, df = fe$df),
  contrasts = list(name = as.character(fc$contrast), estimate = fc$estimate, se = fc$SE, df = fc$df, p = fc$p.value))
out$fully_nested <- fn

writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "expected.json")
