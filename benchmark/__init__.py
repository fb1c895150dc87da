"""WebGen-Bench evaluation: run the benchmark's protocol on a collection or a folder of sites, store it, report it."""
