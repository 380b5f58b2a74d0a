"""Peak memory and time of 144-crop testing at 224x224 (GoogLeNet section 7) against ``crop_batch``.

Each setting runs in a fresh process: full-size GoogLeNet (Table 1, aux heads off), one 500x375
image, the 144 crops cut view by view and fed ``crop_batch`` at a time. Peak resident memory
(ru_maxrss) is reported beside the same process's memory after loading the model, so the
difference is what the protocol costs.

    python benchmarks/crops_memory.py --crop-batch 16 48 144
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time
import torch
torch.set_num_threads(int(sys.argv[2]))
from googlenet import create_model
from googlenet.evaluation import Ensemble, Member
torch.manual_seed(0)
model = create_model("googlenet", aux_logits=False).eval()
member = Member(model, "googlenet", 1000, None, 224, 3, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
image = torch.rand(3, 375, 500)
with torch.inference_mode():
    model(torch.rand(1, 3, 224, 224))
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
t = time.perf_counter()
probs = Ensemble([member]).predict_proba([image], 144, crop_batch=int(sys.argv[1]))
seconds = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"crop_batch": int(sys.argv[1]), "after_load_mib": round(base), "peak_mib": round(peak),
                  "protocol_mib": round(peak - base), "seconds": round(seconds, 1), "sum": float(probs.sum())}))
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--crop-batch", type=int, nargs="+", default=[16, 48, 144])
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    print(f"{'crop_batch':>10} {'after load MiB':>15} {'peak MiB':>9} {'144-crop cost MiB':>18} {'seconds':>8}")
    for cb in args.crop_batch:
        out = subprocess.run([sys.executable, "-c", CHILD, str(cb), str(args.threads)], capture_output=True,
                             text=True, check=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        print(f"{cb:>10} {r['after_load_mib']:>15} {r['peak_mib']:>9} {r['protocol_mib']:>18} {r['seconds']:>8}",
              flush=True)


if __name__ == "__main__":
    main()
