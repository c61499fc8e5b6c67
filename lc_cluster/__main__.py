from lc_cluster.cli import main

main()
