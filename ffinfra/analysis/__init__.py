"""Pure analysis of what the fabric and the benchmarks report, against the planned Topology. No tool is run and
no host is touched here: text or data in, typed findings out, so every module is unit-tested on recorded output.

parsers/      benchmark and discovery output: perftest, nccl-tests, iperf3, fio, ibnetdiscover
opensm_log    an OpenSM log's verdict: engine, SUBNET UP, fallbacks, errors
lft, trace    dump_fts and ibtracert output, named after the plan
wiring        the planned cabling of one subnet, from the Topology
discovered    the cabling ibnetdiscover found, in the plan's names (what the acceptance suite walks routes over)
routing       reachability walk and uplink balance over programmed LFTs
cabling       OpenSM's discovered links (opensm-subnet.lst) against the plan
fabric_diff   an ibnetdiscover fabric against the plan, by switch and port
pairing       the bandwidth pairing schedule and ftree's uplink model
"""
