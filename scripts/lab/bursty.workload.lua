-- lab/bursty.workload.lua - synthetic traffic for `luxy simulate`: bursts
-- of 600 requests a second lasting about 3 s, between quiet spells of
-- about 12 s at 60 a second (an on/off Markov-modulated Poisson process:
-- each phase lasts an exponential time of its mean, then the next begins),
-- for 5 minutes, over 10000 paths of Zipf popularity, mostly small
-- answers and a few large ones.
return {
  duration = "5m",
  phases = {
    { rate = 600, mean = "3s" },
    { rate = 60, mean = "12s" },
  },
  keys = { count = 10000, zipf = 1.1, prefix = "/item/" },   -- /item/1 is the most asked for
  sizes = {
    { share = 0.9, bytes = 4096 },
    { share = 0.1, bytes = 1048576 },  -- costs 1 MiB / bandwidth more where the model has one
  },
  method = "GET",
  host = "app.example",
}
