"""Second half of unit_output: the files test_output wrote must parse as JSON."""
import json
import sys

d = sys.argv[1]
lines = open(d + "/unit_output.jsonl").read().splitlines()
recs = [json.loads(l) for l in lines]
assert [r["id"] for r in recs] == [1, 2, 3, 4, 5], recs
assert recs[3]["status"] == "io_error" and recs[0]["value"] == 45
s = json.load(open(d + "/unit_output_summary.json"))
assert s["schema"] == "evfarm.summary/1", s["schema"]
assert s["options"]["kind"] == 'sim"quoted\\' and s["options"]["output"] == "a\tb"
assert s["tasks"] == 5 and s["ranks"] == 2 and s["failed"] == 1 and s["exit_code"] == 1
assert len(s["per_rank"]) == 2 and s["status"]["io_error"] == 1
assert [r["host"] for r in s["per_rank"]] == ["node-a", "node-b"]
assert s["hosts"] == [{"host": "node-a", "ranks": 1, "tasks": 3, "busy_s": 0.75},
                      {"host": "node-b", "ranks": 1, "tasks": 2, "busy_s": 0.5}], s["hosts"]
assert s["slurm"]["job_id"] == "4242" and s["slurm"]["node_list"] == "node-[a-b]"
assert s["slurm"]["nodes"] is None
assert recs[0]["host"] == "node-a" and recs[2]["host"] == "node-b"
print("check_output_json: 1 passed, 0 failed")
