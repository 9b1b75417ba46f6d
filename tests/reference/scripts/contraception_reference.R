#!/usr/bin/env Rscript
# The contraception logit GLMM (mlmRev's example) fitted by lme4::glmer, with the population
# and population-averaged probabilities of the reference cells, for the bernoulli path with a
# yes/no outcome (event "Y") and for the marginal-means reports.
#
# Usage (from the repository root):
#   Rscript tests/reference/scripts/contraception_reference.R
#
# Reads data/contraception.csv with the project's CSV typing rule (quoted -> factor in
# C-locale order), fits glmer(use == "Y" ~ age + I(age^2) + urban + livch + (1 | district),
# binomial) by Laplace (nAGQ = 1) and by adaptive quadrature (nAGQ = 25), and writes
# tests/reference/marginal/contraception.json:
#   * fixef, se, the district sd, logLik;
#   * for every cell of urban x livch at age 0: the typical district's probability
#     plogis(x beta) (predict(re.form = NA)) and the population-averaged probability
#     integrate(plogis(x beta + u) dnorm(u, 0, tau)), both at the Laplace estimates.

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})
script_dir <- local({
  a <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
  if (length(a)) dirname(normalizePath(sub("^--file=", "", a[1]))) else
    normalizePath("tests/reference/scripts")
})
source(file.path(script_dir, "ref_helpers.R"))
out_dir <- file.path(ref_dir, "marginal")
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)

d <- read_ref_csv("data/contraception.csv")
d$y <- as.integer(d$use == "Y")
form <- y ~ age + I(age^2) + urban + livch + (1 | district)
warned <- character(0)
keep <- function(expr) withCallingHandlers(expr, warning = function(w) {
  warned <<- c(warned, conditionMessage(w))
  invokeRestart("muffleWarning")
})
# lme4 warns about the scale of age^2 (max|grad| ~ 0.007, a large eigenvalue): the estimates
# agree with nAGQ = 25 and with the literature to the digits used; the warnings are recorded
fit <- keep(glmer(form, data = d, family = binomial, nAGQ = 1))
agq <- keep(glmer(form, data = d, family = binomial, nAGQ = 25))

beta <- fixef(fit)
tau <- as.data.frame(VarCorr(fit))$sdcor[1]
cells <- expand.grid(age = 0, urban = levels(d$urban), livch = levels(d$livch))
cells$urban <- factor(cells$urban, levels = levels(d$urban))
cells$livch <- factor(cells$livch, levels = levels(d$livch))
eta <- predict(fit, newdata = cells, re.form = NA, type = "link")
averaged <- sapply(eta, function(m)
  integrate(function(u) plogis(m + u) * dnorm(u, 0, tau), -Inf, Inf, rel.tol = 1e-12)$value)

out <- list(
  formula = "use ~ age + I(age**2) + urban + livch + (1 | district)",
  event = "Y",
  data = "data/contraception.csv",
  n_obs = nrow(d),
  laplace = list(fixef = as.list(beta), se = as.list(sqrt(diag(as.matrix(vcov(fit))))),
                 sd_district = tau, logLik = as.numeric(logLik(fit))),
  agq25 = list(fixef = as.list(fixef(agq)),
               sd_district = as.data.frame(VarCorr(agq))$sdcor[1]),
  cells = lapply(seq_len(nrow(cells)), function(i) list(
    urban = as.character(cells$urban[i]), livch = as.character(cells$livch[i]), age = 0,
    typical = plogis(eta[[i]]), averaged = averaged[[i]])),
  warnings = as.list(unique(warned)),
  software = software_info(c("lme4", "Matrix", "jsonlite"))
)
write_json_file(out, file.path(out_dir, "contraception.json"))
cat("wrote", file.path(out_dir, "contraception.json"), "\n")
