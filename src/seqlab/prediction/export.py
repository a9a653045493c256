"""Export a task's inference graph to ONNX or TorchScript, verified in the same call.

``export_model`` writes ``model.onnx`` (or ``model.pt``), runs the written file (onnxruntime,
or the TorchScript loaded back) on real batches and compares every output with torch's to
``tolerance``; a file that disagrees is deleted and the export refused. Beside it:
``model.README.md`` (inputs, outputs, pre-processing, how to call it) and
``model.preprocessing.json`` (class names, normalisation statistics, tokenizer, the DataSpec).

Real batches: series of one length per batch (the graph takes no padding), several batch
sizes and lengths, so a shape baked in by the exporter shows as a failure.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seqlab.errors import SeqlabError
from seqlab.prediction.graph import InferenceGraph, inference_graph
from seqlab.utils.files import atomic_write_text

log = logging.getLogger(__name__)

FORMATS = {"onnx": ".onnx", "torchscript": ".pt"}
Batch = tuple[torch.Tensor, ...]


def _example(batches: Sequence[Batch]) -> Batch:
    """The batch to trace with: the largest, so no axis is 1 (exporters specialise on 1)."""
    return max(batches, key=lambda b: b[0].shape[0] * (b[0].shape[1] if b[0].dim() > 1 else 1))


def _dynamic_shapes(graph: InferenceGraph, example: Batch) -> dict[str, dict[int, Any]]:
    from torch.export import Dim

    shapes = {}
    for name, tensor in zip(graph.inputs, example, strict=True):
        axes = {}
        for axis, label in graph.dynamic.get(name, {}).items():
            if tensor.shape[axis] < 2:
                continue  # a size-1 axis is specialised by the exporter: keep it static
            top = graph.max_len if label == "time" and graph.max_len else None
            axes[axis] = Dim(f"{label}_{name}", min=2, max=top) if top else Dim(f"{label}_{name}")
        shapes[name] = axes
    return shapes


def _onnx_export(graph: InferenceGraph, example: Batch, path: Path, **exporter: Any) -> None:
    """torch.onnx.export of the graph's module, with its input and output names."""
    import warnings

    with warnings.catch_warnings(), scripting(graph.module):
        warnings.simplefilter("ignore")
        torch.onnx.export(
            graph.module,
            example,
            str(path),
            input_names=graph.inputs,
            output_names=graph.outputs,
            **exporter,
        )


def write_onnx(graph: InferenceGraph, example: Batch, path: Path) -> None:
    logging.getLogger("onnx_ir").setLevel(logging.WARNING)  # one line per folded constant
    # the exporter traces with dynamo: shapes it saw earlier in this process (a compiled model,
    # an earlier export) must not specialise this graph's axes
    torch._dynamo.reset()
    _onnx_export(
        graph,
        example,
        path,
        dynamic_shapes=_dynamic_shapes(graph, example),
        dynamo=True,
        external_data=False,
        verbose=False,
    )


def rewrite_with_torchscript_exporter(
    graph: InferenceGraph, example: Batch, path: Path, fixed: dict[int, int]
) -> dict[int, int]:
    """The dynamo exporter fixed an axis meant to vary (it unrolled a recurrence over time;
    seen for nn.LSTM only after some other work in the same process): write the file again with
    torch's TorchScript-based ONNX exporter, which maps nn.LSTM/GRU/RNN to ONNX's recurrent ops
    with a dynamic time axis. Returns the axes still fixed ({} when the rewrite kept them all);
    a failed rewrite keeps the dynamo file."""
    kept = path.read_bytes()
    dynamic_axes = {
        name: {axis: f"{label}_{name}" for axis, label in axes.items()}
        for name, axes in graph.dynamic.items()
    }
    try:
        _onnx_export(graph, example, path, dynamic_axes=dynamic_axes, dynamo=False)
        still = fixed_axes(path, graph)
    except Exception as err:  # the dynamo file, with its fixed axis, is what there is
        log.info("the TorchScript-based ONNX exporter failed too (%s)", type(err).__name__)
        path.write_bytes(kept)
        return fixed
    if still:
        path.write_bytes(kept)
        return fixed
    log.info(
        "%s: written by the TorchScript-based ONNX exporter (dynamo fixed %s)", path.name, fixed
    )
    return {}


def write_torchscript(graph: InferenceGraph, example: Batch, path: Path) -> None:
    import warnings

    with warnings.catch_warnings(), scripting(graph.module):
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(graph.module, example, check_trace=False)
    traced.save(str(path))


@contextlib.contextmanager
def scripting(module: torch.nn.Module):
    """Lightning's flag for TorchScript: its modules' ``trainer`` property does not raise
    while the tracer walks their attributes (as in ``LightningModule.to_torchscript``)."""
    flagged = [m for m in module.modules() if hasattr(m, "_jit_is_scripting")]
    for m in flagged:
        m._jit_is_scripting = True
    try:
        yield
    finally:
        for m in flagged:
            m._jit_is_scripting = False


def runner(fmt: str, path: Path, graph: InferenceGraph):
    """A function batch -> list of numpy outputs, calling the written file only."""
    if fmt == "onnx":
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        return lambda batch: session.run(
            graph.outputs, {n: t.numpy() for n, t in zip(graph.inputs, batch, strict=True)}
        )
    loaded = torch.jit.load(str(path))

    def call(batch: Batch) -> list[np.ndarray]:
        with torch.inference_mode():
            out = loaded(*batch)
        return [t.numpy() for t in (out if isinstance(out, tuple | list) else (out,))]

    return call


@torch.inference_mode()
def torch_outputs(graph: InferenceGraph, batch: Batch) -> list[np.ndarray]:
    out = graph.module(*batch)
    return [t.numpy() for t in (out if isinstance(out, tuple | list) else (out,))]


def max_abs_difference(fmt: str, path: Path, graph: InferenceGraph, batches: Sequence[Batch]):
    call = runner(fmt, path, graph)
    worst = 0.0
    for batch in batches:
        for ours, theirs in zip(call(batch), torch_outputs(graph, batch), strict=True):
            if ours.shape != theirs.shape:
                return float("inf")
            worst = max(worst, float(np.abs(ours.astype(np.float64) - theirs).max()))
    return worst


def export_model(
    task: torch.nn.Module,
    fmt: str,
    out_dir: Path,
    batches: Sequence[Batch],
    *,
    tolerance: float = 1e-5,
    name: str = "model",
    ckpt_path: str = "",
) -> dict[str, Any]:
    """Write, verify and describe the exported graph; returns what was measured."""
    if fmt not in FORMATS:
        raise SeqlabError(f"format={fmt!r} is not known. Fix: format=onnx or format=torchscript.")
    if not batches:
        raise SeqlabError("export: no batches to verify the exported graph on.")
    graph = inference_graph(task.cpu().eval())
    backbone = getattr(task.backbone, "_orig_mod", task.backbone)
    formats = getattr(backbone, "export_formats", tuple(FORMATS))  # a backbone may name its own
    if fmt not in formats:
        raise SeqlabError(
            f"ckpt_path: {type(backbone).__name__} exports to {', '.join(formats)} only"
            f"{': ' + backbone.export_note if getattr(backbone, 'export_note', '') else ''}. "
            f"Fix: format={formats[0]}."
        )
    graph.module.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}{FORMATS[fmt]}"
    example = _example(batches)
    try:
        (write_onnx if fmt == "onnx" else write_torchscript)(graph, example, path)
    except SeqlabError:
        raise
    except Exception as err:
        path.unlink(missing_ok=True)
        message = str(err).strip().splitlines()[0][:300] if str(err).strip() else ""
        raise SeqlabError(
            f"ckpt_path: {graph.preprocessing.get('model')} did not export to {fmt} "
            f"({type(err).__name__}: {message}). Fix: try format="
            f"{'torchscript' if fmt == 'onnx' else 'onnx'}."
        ) from err
    fixed = fixed_axes(path, graph) if fmt == "onnx" else {}
    if fixed:
        fixed = rewrite_with_torchscript_exporter(graph, example, path, fixed)
    if fixed:
        # the exporter specialised an axis (nn.RNN's recurrence is unrolled over time): verify
        # on the batches that fit it, and on a smaller batch of the example (dynamic batch)
        fits = [b for b in batches if all(b[0].shape[a] == n for a, n in fixed.items())]
        batches = [*fits, tuple(t[: max(1, len(t) // 2)] for t in example)]
        log.warning(
            "%s: the ONNX exporter fixed %s of '%s' (torchscript keeps them dynamic)",
            path.name,
            ", ".join(f"axis {a} at {n}" for a, n in fixed.items()),
            graph.inputs[0],
        )
    diff = max_abs_difference(fmt, path, graph, batches)
    shapes = sorted({tuple(b[0].shape) for b in batches})
    if not diff <= tolerance:
        path.unlink(missing_ok=True)
        raise SeqlabError(
            f"export: the {fmt} graph differs from torch by {diff:.3g} (> tolerance {tolerance:g}) "
            f"on batches of shapes {shapes}; nothing was kept. Fix: report it; format="
            f"{'torchscript' if fmt == 'onnx' else 'onnx'} may work."
        )
    report = {
        "format": fmt,
        "path": str(path),
        "max_abs_diff": diff,
        "tolerance": tolerance,
        "batches": len(batches),
        "shapes": [list(s) for s in shapes],
        "ckpt_path": ckpt_path,
        "fixed_axes": {graph.inputs[0]: fixed} if fixed else {},
    }
    json_path = out_dir / f"{name}.preprocessing.json"
    atomic_write_text(json_path, json.dumps(graph.preprocessing, indent=2, default=str) + "\n")
    atomic_write_text(out_dir / f"{name}.README.md", readme(graph, path, json_path, report))
    return report


def fixed_axes(path: Path, graph: InferenceGraph) -> dict[int, int]:
    """Axes of the first input meant to vary that the written ONNX file fixed: {axis: size}."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    wanted = graph.dynamic.get(graph.inputs[0], {})
    dims = model.graph.input[0].type.tensor_type.shape.dim
    return {a: int(dims[a].dim_value) for a in wanted if a < len(dims) and dims[a].dim_value}


def readme(graph: InferenceGraph, path: Path, json_path: Path, report: dict) -> str:
    rows = "\n".join(f"| `{n}` | {graph.description.get(n, '')} |" for n in graph.inputs)
    outs = "\n".join(f"| `{n}` | {graph.description.get(n, '')} |" for n in graph.outputs)
    dynamic = "; ".join(
        f"`{n}`: " + ", ".join(f"axis {a} ({label})" for a, label in axes.items())
        for n, axes in graph.dynamic.items()
    )
    limit = f" (time at most {graph.max_len})" if graph.max_len else ""
    for axis, size in report.get("fixed_axes", {}).get(graph.inputs[0], {}).items():
        limit += (
            f". **In this file axis {axis} is fixed at {size}**: the exporter unrolled the "
            "recurrence over time (format=torchscript keeps it dynamic)"
        )
    pre = graph.preprocessing
    classes = pre.get("class_names")
    inputs = ", ".join(f"'{n}': x" for n in graph.inputs)
    call = (
        "import numpy as np, onnxruntime as ort\n"
        f'session = ort.InferenceSession("{path.name}")\n'
        f"outputs = session.run(None, {{{inputs}}})  # x: see Inputs\n"
        if report["format"] == "onnx"
        else f'import torch\nmodel = torch.jit.load("{path.name}")\noutputs = model(x)\n'
    )
    return (
        f"# {path.name}: {pre.get('model')} ({pre.get('task')})\n\n"
        f"Exported by `python export.py ckpt_path={report['ckpt_path']} "
        f"format={report['format']}`; the written file reproduced torch's outputs to "
        f"{report['max_abs_diff']:.2g} (max abs, tolerance {report['tolerance']:g}) on "
        f"{report['batches']} real batches of shapes {report['shapes']}.\n\n"
        f"## Inputs\n\n| name | shape and meaning |\n|---|---|\n{rows}\n\n"
        f"Dynamic axes: {dynamic}{limit}.\n\n"
        f"## Outputs\n\n| name | shape and meaning |\n|---|---|\n{outs}\n\n"
        + (f"Classes, in output order: {', '.join(map(str, classes))}.\n\n" if classes else "")
        + "## Pre-processing\n\n"
        f"`{json_path.name}` holds what the training did to the data: "
        + (
            "the normalisation statistics under `normalisation_in_graph` are already applied "
            "inside the graph: feed raw values. "
            if "normalisation_in_graph" in pre
            else "apply what it describes before calling the graph. "
        )
        + "Its `spec` is the checkpoint's DataSpec.\n\n"
        f"## Call it\n\n```python\n{call}```\n"
    )
