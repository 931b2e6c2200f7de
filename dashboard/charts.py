"""Plotly charts of the comparison page, drawn from model cards only."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go


def curves(all_cards: dict[str, dict], split: str, kind: str) -> go.Figure:
    """ROC or precision–recall curves of every model on one chart."""
    fig = go.Figure()
    for name, card in all_cards.items():
        m = card.split(split)
        x, y = (m["roc"]["fpr"], m["roc"]["tpr"]) if kind == "roc" else (m["pr"]["recall"], m["pr"]["precision"])
        label = f"{name} (AUC {m['roc_auc']:.3f})" if kind == "roc" else f"{name} (AP {m['average_precision']:.3f})"
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=label,
                                 line={"width": 4 if name == "ensemble" else 2}))
    if kind == "roc":
        fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance", line={"dash": "dot"}))
    titles = ("False-positive rate", "Sensitivity") if kind == "roc" else ("Recall (sensitivity)", "Precision")
    fig.update_layout(xaxis_title=titles[0], yaxis_title=titles[1], height=480, margin={"t": 30},
                      legend={"orientation": "h", "y": -0.25})
    return fig


def reliability(all_cards: dict[str, dict], split: str) -> go.Figure:
    """Reliability diagram: mean predicted probability vs observed fracture rate per bin."""
    fig = go.Figure(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect", line={"dash": "dot"}))
    for n, card in all_cards.items():
        bins = [b for b in card.split(split)["reliability"] if b["count"]]
        fig.add_trace(go.Scatter(x=[b["mean_p"] for b in bins], y=[b["frac_pos"] for b in bins],
                                 mode="lines+markers", name=f"{n} (ECE {card.split(split)['ece']:.3f})"))
    fig.update_layout(xaxis_title="Predicted probability", yaxis_title="Observed fracture rate", height=480,
                      legend={"orientation": "h", "y": -0.25})
    return fig


def robustness_heatmap(deltas: pd.DataFrame, limits: dict[str, float]) -> go.Figure:
    """Change from unshifted per shift (rows, worst first) and measure: red = worse, blue = better.

    A cell's text is starred when the change is larger than its target (`limits`: ROC-AUC, rates)."""
    worst = deltas.apply(lambda row: max(abs(v) / _limit(c, limits) for c, v in row.items()), axis=1)
    df = deltas.loc[worst.sort_values(ascending=False).index]
    text = [[f"{v:+.2f}{' *' if abs(v) > _limit(c, limits) else ''}" for c, v in row.items()]
            for _, row in df.iterrows()]
    fig = go.Figure(go.Heatmap(z=df.to_numpy(), x=list(df.columns), y=list(df.index), text=text,
                               texttemplate="%{text}", zmid=0, zmin=-0.3, zmax=0.3, colorscale="RdBu",
                               colorbar={"title": "change"}, hovertemplate="%{y}<br>%{x}: %{z:+.3f}<extra></extra>"))
    fig.update_layout(height=160 + 28 * len(df), margin={"t": 30, "l": 10}, yaxis={"autorange": "reversed"},
                      xaxis={"side": "top"})
    return fig


def _limit(column: str, limits: dict[str, float]) -> float:
    return limits["roc_auc"] if column == "ROC-AUC" else limits["sensitivity"]


def froc_chart(card: dict, splits: tuple[str, ...] = ("val", "test")) -> go.Figure:
    """FROC: share of radiologist boxes found against false boxes per image, per split."""
    fig = go.Figure()
    for split in splits:
        m = card["metrics"].get(split)
        if not m:
            continue
        c = m["froc_curve"]
        fig.add_trace(go.Scatter(x=c["false_per_image"], y=c["sensitivity"], mode="lines",
                                 name=f"{split} (AP50 {m['ap50']:.2f})", line={"width": 3 if split == "test" else 2}))
    for op, t in card["metrics"].get("test", {}).get("operating_points", {}).items():
        fig.add_trace(go.Scatter(x=[t["false_boxes_per_image"]], y=[t["box_sensitivity"]],
                                 mode="markers", marker={"size": 11, "symbol": "diamond"}, name=f"test, {op} boxes"))
    fig.update_layout(xaxis_title="False boxes per image", yaxis_title="Share of radiologist boxes found (IoU ≥ 0.5)",
                      xaxis={"range": [0, 3]}, yaxis={"range": [0, 1]}, height=420, margin={"t": 30},
                      legend={"orientation": "h", "y": -0.25})
    return fig
