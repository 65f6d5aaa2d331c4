// The histogram of a product's recent scores, with its threshold (solid) and the value being tried (dashed).
"use strict";

const BINS = 40;

class ScoreHistogram {
  constructor(element) {
    this.element = element;
    this.scores = [];
    this.threshold = 0;
    this.trial = null;
    this.top = 1;
    this.plot = new uPlot(
      {
        width: Math.max(320, element.clientWidth),
        height: 220,
        legend: { show: false },
        cursor: { show: false },
        scales: { x: { time: false, range: () => [0, this.top] }, y: { range: (u, min, max) => [0, max || 1] } },
        axes: [{ label: "score" }, { label: "frames" }],
        series: [
          {},
          { stroke: "#4a6fa5", fill: "#4a6fa588", points: { show: false }, paths: uPlot.paths.bars({ size: [1, 100] }) },
        ],
        hooks: { draw: [(u) => this.drawLines(u)] },
      },
      [[], []],
      element,
    );
  }

  update(scores, threshold, trial) {
    this.scores = scores;
    this.threshold = threshold;
    this.trial = trial;
    this.top = Math.max(...scores, threshold, trial ?? 0, 1e-6) * 1.1;
    const width = this.top / BINS;
    const counts = new Array(BINS).fill(0);
    for (const score of scores) counts[Math.min(BINS - 1, Math.floor(score / width))] += 1;
    const centres = counts.map((_, index) => (index + 0.5) * width);
    this.plot.setData([centres, counts]);
    this.element.dataset.count = scores.length;
    this.element.dataset.threshold = threshold;
  }

  drawLines(u) {
    this.drawLine(u, this.threshold, "#c0392b", []);
    if (this.trial !== null) this.drawLine(u, this.trial, "#1f6fd1", [6, 4]);
  }

  drawLine(u, value, colour, dash) {
    const x = u.valToPos(value, "x", true);
    const context = u.ctx;
    context.save();
    context.strokeStyle = colour;
    context.lineWidth = 2 * devicePixelRatio;
    context.setLineDash(dash.map((length) => length * devicePixelRatio));
    context.beginPath();
    context.moveTo(x, u.bbox.top);
    context.lineTo(x, u.bbox.top + u.bbox.height);
    context.stroke();
    context.restore();
  }
}
