# R's parallel paths. usage: Rscript r_work.R blas|mclapply|datatable
#   blas:      a 1200x1200 matrix product through R's BLAS (integer-valued,
#              so the result is exact whatever the BLAS threads), digest
#   mclapply:  parallel::mclapply with mc.cores = detectCores() (fork)
#   datatable: data.table's OpenMP group-by, sort and join on 2M rows
# Pool sizes go to stderr as corpus-pool lines.
args <- commandArgs(trailingOnly = TRUE)
what <- if (length(args)) args[1] else "blas"
pool <- function(name, n) cat(sprintf("corpus-pool %s %d\n", name, as.integer(n)), file = stderr())
digest <- function(x) {
  # a position-weighted checksum of an integer-valued vector, exact in doubles
  x <- as.numeric(x) %% 1000003
  w <- (seq_along(x) %% 997) + 1
  sprintf("%.0f", sum((x * w) %% 1000003))
}

if (what == "blas") {
  set.seed(42)
  n <- 1200
  a <- matrix(sample(-9:9, n * n, replace = TRUE), n)
  b <- matrix(sample(-9:9, n * n, replace = TRUE), n)
  for (i in 1:3) { c <- a %*% b; a <- (c %% 19) - 9 }
  cat("crossprod", digest(crossprod(a, b)), "\n")
  cat("matmul", digest(c), "sum", sprintf("%.0f", sum(c)), "\n")
} else if (what == "mclapply") {
  library(parallel)
  cores <- detectCores()
  pool("detectCores", cores)
  res <- mclapply(1:32, function(i) {
    set.seed(i)
    x <- sample.int(1e6, 3e5, replace = TRUE)
    s <- sort(x)
    sum(as.numeric(s[seq(1, length(s), by = 7)]) %% 1009)
  }, mc.cores = cores)
  cat("mclapply", length(res), digest(unlist(res)), "\n")
} else if (what == "datatable") {
  suppressPackageStartupMessages(library(data.table))
  pool("getDTthreads", getDTthreads())
  set.seed(7)
  n <- 2e6
  dt <- data.table(g = sample.int(5000, n, TRUE), h = sample(letters, n, TRUE),
                   v = sample.int(1e6, n, TRUE))
  for (i in 1:3) {
    agg <- dt[, .(s = sum(as.numeric(v)), m = max(v), k = .N), keyby = .(g, h)]
    setorder(dt, h, -v, g)
  }
  j <- agg[dt[1:200000], on = .(g, h), nomatch = NULL]
  cat("groups", nrow(agg), digest(agg$s), digest(agg$k), "\n")
  cat("sorted", digest(dt$v[seq(1, n, by = 13)]), "join", nrow(j), digest(j$m), "\n")
} else {
  stop("unknown mode ", what)
}
