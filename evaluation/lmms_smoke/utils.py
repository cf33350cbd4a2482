"""Hooks of the `spatialmix_smoke` lmms-eval task (lmms-eval imports this file from the task folder
through the `!function utils.<name>` entries of spatialmix_smoke.yaml)."""


def doc_to_visual(doc):
    return [doc["image"].convert("RGB")]


def doc_to_text(doc, lmms_eval_specific_kwargs=None):
    return doc["question"]


def process_results(doc, results):
    return {"exact_match": float(results[0].strip().lower().rstrip(".") == doc["answer"].strip().lower())}
