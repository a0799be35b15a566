#!/usr/bin/env python3
"""Worst-case search cost, the bounded expansion (migration 000007) beside the one before it, in one run.

Needs a database with Fermata's schema and a seeded catalogue (bench/catalog.sh's seed: 100,000 songs), plus a
larger vocabulary of pseudo-words, and the previous function installed as fermata_search_query_old (the DOWN
of migration 000007, renamed). PSQL_ARGS names the database (default: the bench cluster on /tmp/pgbench:55432).
Prints a Markdown table of median EXPLAIN ANALYZE execution times (7 runs each) and the ratio.
"""
import os
import subprocess, statistics, time, json
def q(sql):
    args=os.environ.get("PSQL_ARGS","-h /tmp/pgbench -p 55432 -U fermata -d fermata").split()
    out=subprocess.run(["psql",*args,"-Atc",sql],capture_output=True,text=True)
    return out.stdout
letters=" ".join("abcdefghijklmnopqrstuvwxyzabcdefghij"[:36])  # 71 chars
queries={"normal `dvorak`":"dvorak","typo `symphny`":"symphny","71 chars of single letters":letters,
 "36 two-letter words":" ".join(a+b for a,b in zip("abcdefghijklmnopqrstuvwxyzabcdefghij","bcdefghijklmnopqrstuvwxyzabcdefghijk"))[:200],
 "200 chars of 5-letter typos":" ".join(["symphny","dvorka","nocturen","reiver","shadw","sumer","dreem","hart"]*4)[:200]}
res={}
for name,text in queries.items():
    t=text.replace("'","''")
    for fn in ["fermata_search_query_old","fermata_search_query"]:
        # The tsquery expansion plus the songs search on it, as the handler runs them (EXPLAIN ANALYZE times).
        sql=f"""EXPLAIN (ANALYZE, FORMAT JSON) WITH t AS MATERIALIZED (SELECT {fn}('{t}') AS q)
          SELECT s.id FROM songs s, t WHERE s.search_vector @@ t.q ORDER BY s.play_count DESC, s.id LIMIT 100"""
        times=[]
        for _ in range(7):
            times.append(json.loads(q(sql))[0]["Execution Time"])
        res[(name,fn)]=statistics.median(times)
for name in queries:
    old=res[(name,"fermata_search_query_old")]; new=res[(name,"fermata_search_query")]
    print(f"| {name} | {old:.1f} ms | {new:.1f} ms | {old/new:.1f}× |")
