# Reference figures for the canary judge's statistics (lambdas/core/judge), printed as JSON:
#   Rscript tools/r/wilcox-reference.R > test/fixtures/wilcox-reference.json
# Run only to regenerate the fixture (Debian's r-base-core; no package beyond base R); the tests
# read the committed JSON and never run R. Every number is printed with 17 significant digits so
# the data round-trips exactly into the tests.

num <- function(v) {
  if (length(v) == 0) return("[]")
  s <- ifelse(is.na(v), "null",
       ifelse(is.infinite(v), ifelse(v > 0, "\"Infinity\"", "\"-Infinity\""), sprintf("%.17g", v)))
  s
}
arr <- function(v) paste0("[", paste(num(v), collapse = ","), "]")
str <- function(s) paste0("\"", gsub("\"", "\\\\\"", s), "\"")
strs <- function(v) if (length(v) == 0) "[]" else paste0("[", paste(sapply(v, str), collapse = ","), "]")

wilcox_case <- function(name, x, y, conf.level) {
  warnings <- character(0)
  res <- tryCatch(
    withCallingHandlers(
      wilcox.test(x, y, conf.int = TRUE, conf.level = conf.level),
      warning = function(w) {
        warnings <<- c(warnings, conditionMessage(w))
        invokeRestart("muffleWarning")
      }),
    error = function(e) e)
  head <- paste0("{\"name\":", str(name), ",\"x\":", arr(x), ",\"y\":", arr(y),
                 ",\"confLevel\":", num(conf.level))
  if (inherits(res, "error")) {
    return(paste0(head, ",\"error\":", str(conditionMessage(res)), ",\"warnings\":", strs(warnings), "}"))
  }
  paste0(head,
         ",\"method\":", str(res$method),
         ",\"statistic\":", num(unname(res$statistic)),
         ",\"pValue\":", num(res$p.value),
         ",\"estimate\":", num(unname(res$estimate)),
         ",\"lower\":", num(res$conf.int[1]),
         ",\"upper\":", num(res$conf.int[2]),
         ",\"achievedConfLevel\":", num(attr(res$conf.int, "conf.level")),
         ",\"warnings\":", strs(warnings), "}")
}

set.seed(20261203)
lat <- function(n, p99) rlnorm(n, meanlog = log(p99) - 2.326348 * 0.5, sdlog = 0.5)
depression_x <- c(1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30)
depression_y <- c(0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29)
ht_x <- c(0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46)
ht_y <- c(1.15, 0.88, 0.90, 0.74, 1.21)

cases <- list(
  wilcox_case("textbook paired-study values, ties, 95%", depression_x, depression_y, 0.95),
  wilcox_case("textbook values, ties, 98%", depression_x, depression_y, 0.98),
  wilcox_case("textbook values, ties, 99%", depression_x, depression_y, 0.99),
  wilcox_case("Hollander-Wolfe permeability, exact, 95%", ht_x, ht_y, 0.95),
  wilcox_case("Hollander-Wolfe permeability, exact, 98%", ht_x, ht_y, 0.98),
  wilcox_case("exact 5 vs 5 shifted, 95%", c(10.2, 11.9, 12.4, 13.1, 14.8), c(8.1, 9.3, 9.9, 10.5, 11.2), 0.95),
  wilcox_case("exact 3 vs 3, level not achievable", c(3.1, 4.2, 5.3), c(1.05, 2.15, 2.95), 0.95),
  wilcox_case("exact 1 vs 5", c(7.5), c(1.1, 2.2, 3.3, 4.4, 5.5), 0.95),
  wilcox_case("exact 10 vs 10 p99-like, canary +30%, 98%", round(390 + rnorm(10, 0, 12), 3),
              round(300 + rnorm(10, 0, 10), 3), 0.98),
  wilcox_case("exact 49 vs 49 normal shift 0.5, 98%", rnorm(49, 0.5), rnorm(49), 0.98),
  wilcox_case("exact 12 vs 12 negative values, 99%", rnorm(12, -5, 2), rnorm(12, -6, 2), 0.99),
  wilcox_case("asymptotic 50 vs 10 no ties, 95%", rnorm(50, 1), rnorm(10), 0.95),
  wilcox_case("asymptotic 60 vs 70 normal shift 0.5, 98%", rnorm(60, 0.5), rnorm(70), 0.98),
  wilcox_case("asymptotic 200 vs 200 lognormal latency, canary 1.3x, 98%", lat(200, 390), lat(200, 300), 0.98),
  wilcox_case("asymptotic 1000 vs 1000 unchanged latency, 98%", lat(1000, 300), lat(1000, 300), 0.98),
  wilcox_case("asymptotic 1000 vs 1000 decrease, 95%", lat(1000, 250), lat(1000, 300), 0.95),
  wilcox_case("heavy ties integers 40 vs 40, 95%", sample(1:5, 40, TRUE), sample(2:6, 40, TRUE), 0.95),
  wilcox_case("error-rate fractions with ties, 10 vs 10, 98%", rbinom(10, 3000, 0.02) / 3000, rbinom(10, 3000, 0.01) / 3000, 0.98),
  wilcox_case("error-rate fractions unchanged, 10 vs 10, 98%", rbinom(10, 3000, 0.01) / 3000, rbinom(10, 3000, 0.01) / 3000, 0.98),
  wilcox_case("error-rate percent with ties, 10 vs 10, 98%", rbinom(10, 3000, 0.02) / 30, rbinom(10, 3000, 0.01) / 30, 0.98),
  wilcox_case("one constant sample, 10 vs 10, 95%", rep(5, 10), as.numeric(1:10), 0.95),
  wilcox_case("identical samples, 95%", c(1, 2, 3, 4, 5), c(1, 2, 3, 4, 5), 0.95),
  wilcox_case("partial ties, 4 vs 4, 95%", c(1, 1, 1, 2), c(1, 1, 2, 2), 0.95),
  wilcox_case("large magnitude 1e6 + noise, 20 vs 20, 98%", 1e6 + rnorm(20, 3), 1e6 + rnorm(20), 0.98),
  wilcox_case("both constant, equal (R stops)", rep(2, 6), rep(2, 6), 0.95),
  wilcox_case("both constant, different (R stops)", rep(3, 6), rep(2, 6), 0.95)
)

# Counts: canary errors/requests (x1/n1) against baseline (x2/n2), one-sided "greater".
counts_case <- function(name, x1, n1, x2, n2, conf.level, rho) {
  pt <- suppressWarnings(prop.test(c(x1, x2), c(n1, n2), alternative = "greater", correct = TRUE,
                                   conf.level = conf.level))
  ft <- fisher.test(matrix(c(x1, x2, n1 - x1, n2 - x2), 2), alternative = "greater")
  pi0 <- rho * n1 / (rho * n1 + n2)
  bt <- if (x1 + x2 > 0) binom.test(x1, x1 + x2, p = pi0, alternative = "greater")$p.value else 1
  paste0("{\"name\":", str(name), ",\"canaryErrors\":", x1, ",\"canaryRequests\":", n1,
         ",\"baselineErrors\":", x2, ",\"baselineRequests\":", n2, ",\"confLevel\":", num(conf.level),
         ",\"ratio\":", num(rho),
         ",\"propTest\":{\"statistic\":", num(unname(pt$statistic)), ",\"pValue\":", num(pt$p.value),
         ",\"lower\":", num(pt$conf.int[1]), "}",
         ",\"fisherPValue\":", num(ft$p.value),
         ",\"binomPValue\":", num(bt), ",\"binomP\":", num(pi0), "}")
}
counts <- list(
  counts_case("100 req/s unchanged", 300, 30000, 300, 30000, 0.98, 1.5),
  counts_case("100 req/s 2x errors", 600, 30000, 300, 30000, 0.98, 1.5),
  counts_case("100 req/s 3x errors", 900, 30000, 300, 30000, 0.98, 1.5),
  counts_case("100 req/s +10% errors", 330, 30000, 300, 30000, 0.98, 1.5),
  counts_case("2 req/s unchanged", 6, 600, 6, 600, 0.98, 1.5),
  counts_case("2 req/s 2x errors", 12, 600, 6, 600, 0.98, 1.5),
  counts_case("errors only in canary, small", 5, 100, 0, 100, 0.98, 1.5),
  counts_case("one error in canary", 1, 1000, 0, 1000, 0.98, 1.5),
  counts_case("moderate difference", 50, 1000, 30, 1000, 0.95, 1),
  counts_case("unequal sizes", 3, 20, 1, 25, 0.99, 1.5),
  counts_case("canary better", 10, 5000, 40, 5000, 0.98, 1.5),
  counts_case("large canary, small baseline", 120, 20000, 4, 1000, 0.98, 1.5)
)

cat("{\n\"generator\":\"tools/r/wilcox-reference.R\",\n\"rVersion\":", str(R.version.string), ",\n",
    "\"wilcox\":[\n", paste(unlist(cases), collapse = ",\n"), "\n],\n",
    "\"counts\":[\n", paste(unlist(counts), collapse = ",\n"), "\n]\n}\n", sep = "")
