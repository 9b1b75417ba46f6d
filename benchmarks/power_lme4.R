#!/usr/bin/env Rscript
# The peer of benchmarks/bench_power.py: simulation-based power as simr computes it, written
# out with lme4 + lmerTest (simr is not installed here): simulate y from the model with the
# given parameters, refit by REML, Satterthwaite t test of 'treat'.
#   Rscript benchmarks/power_lme4.R CSV NSIM EFFECT TAU SIGMA
# Prints one JSON line: {"nsim": ..., "seconds": ..., "power": ...}.
suppressPackageStartupMessages({library(lme4); library(lmerTest); library(jsonlite)})
a <- commandArgs(trailingOnly = TRUE)
d <- read.csv(a[1]); nsim <- as.integer(a[2])
effect <- as.numeric(a[3]); tau <- as.numeric(a[4]); sigma <- as.numeric(a[5])
d$cluster <- factor(d$cluster)
set.seed(1)
m0 <- lmerTest::lmer(y ~ treat + (1 | cluster), data = d)
pars <- list(beta = c("(Intercept)" = 0, treat = effect),
             theta = c("cluster.(Intercept)" = tau / sigma), sigma = sigma)
t0 <- proc.time()[["elapsed"]]
hits <- 0
for (i in seq_len(nsim)) {
  ysim <- simulate(~ treat + (1 | cluster), newdata = d, newparams = pars,
                family = gaussian)[[1]]
  d$y <- ysim  # (transform(d, y = ysim) style code must not read the data's own y)
  fit <- suppressMessages(lmerTest::lmer(y ~ treat + (1 | cluster), data = d))
  p <- summary(fit, ddf = "Satterthwaite")$coefficients["treat", "Pr(>|t|)"]
  hits <- hits + (p < 0.05)
}
secs <- proc.time()[["elapsed"]] - t0
cat(toJSON(list(nsim = nsim, seconds = secs, power = hits / nsim), auto_unbox = TRUE,
           digits = NA), "\n")
