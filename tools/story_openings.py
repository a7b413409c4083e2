#!/usr/bin/env python3
"""Cuts the story openings of data/prompts/story_openings.jsonl from the held-out teacher stories.

The held-out stories are the last 5% (1,000) of data/teacher/stories260K_20k_seed0.jsonl.gz, the same
split `dlm train` and `dlm bench teacher` hold out, so no model trained on that file saw them. An
opening is a story's text up to and including its first sentence end ('.', '!' or '?', with a closing
quote if one follows), kept when it has 4 to 40 words. The first 200 such stories, in file order.

    python3 tools/story_openings.py > data/prompts/story_openings.jsonl
"""
import gzip, json, re, sys

SOURCE = "data/teacher/stories260K_20k_seed0.jsonl.gz"
stories = [json.loads(l)["text"] for l in gzip.open(SOURCE, "rt", encoding="utf-8") if l.strip()]
held = round(len(stories) * 0.05)
first = len(stories) - held
end = re.compile(r'[.!?]"?(?=\s|$)')
out = 0
for i in range(first, len(stories)):
    m = end.search(stories[i])
    if not m:
        continue
    opening = stories[i][: m.end()].strip()
    if not 4 <= len(opening.split()) <= 40 or "\n" in opening:
        continue
    sys.stdout.write(json.dumps({"prompt": opening, "story": i}, ensure_ascii=False) + "\n")
    out += 1
    if out == 200:
        break
