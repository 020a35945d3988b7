# Reference values for tests/test_cace.py: 2SLS with AER::ivreg, classical and CR2
# (clubSandwich::vcovCR) standard errors; ITT and first stage with lm. Run here:
#   Rscript make_reference.R   (writes expected.json)
suppressPackageStartupMessages({library(AER); library(clubSandwich); library(jsonlite)})
d <- read.csv("data.csv")
iv <- ivreg(post ~ complied + pre + age | treat + pre + age, data = d)
itt <- lm(post ~ treat + pre + age, data = d)
fs <- lm(complied ~ treat + pre + age, data = d)
cr2 <- function(fit, term) {
  v <- vcovCR(fit, cluster = d$cluster, type = "CR2")
  sqrt(v[term, term])
}
# Satterthwaite df of the CR2 t test (Pustejovsky & Tipton 2018), as coef_test reports them
satt <- function(fit, term) {
  ct <- coef_test(fit, vcov = "CR2", cluster = d$cluster, test = "Satterthwaite")
  ct$df_Satt[ct$Coef == term]
}
out <- list(
  cace = list(est = unname(coef(iv)["complied"]), se_classical = unname(sqrt(vcov(iv)["complied", "complied"])),
              se_cr2 = cr2(iv, "complied"), df_satt = satt(iv, "complied")),
  itt = list(est = unname(coef(itt)["treat"]), se_classical = unname(sqrt(vcov(itt)["treat", "treat"])),
             se_cr2 = cr2(itt, "treat"), df_satt = satt(itt, "treat")),
  compliance = list(est = unname(coef(fs)["treat"]), se_classical = unname(sqrt(vcov(fs)["treat", "treat"])),
                    se_cr2 = cr2(fs, "treat"), df_satt = satt(fs, "treat")),
  n = nrow(d), n_clusters = length(unique(d$cluster)),
  versions = list(AER = as.character(packageVersion("AER")),
                  clubSandwich = as.character(packageVersion("clubSandwich")))
)
write(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "expected.json")
