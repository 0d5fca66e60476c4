// The dashboard's only script (the page's policy runs no inline script). It draws each chart from the JSON in its
// <script type="application/json"> element, and on a billing day whose close runs it follows the close's progress
// until the day reads closed.
(() => {
  'use strict';

  /** Cents as the pages write them: −1,234.56. */
  const money = (cents) => {
    const magnitude = Math.abs(Math.round(cents));
    const whole = Math.floor(magnitude / 100).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
    return `${cents < 0 ? '−' : ''}${whole}.${String(magnitude % 100).padStart(2, '0')}`;
  };

  function drawChart(element) {
    const data = JSON.parse(document.getElementById(element.dataset.chart).textContent);
    const days = data.dates.map((date) => Date.parse(`${date}T00:00:00Z`) / 1000);
    const size = () => ({ width: element.clientWidth, height: Math.max(180, Math.min(320, Math.round(element.clientWidth * 0.45))) });
    const plot = new uPlot(
      {
        ...size(),
        tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
        legend: { show: false },
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: true } },
        axes: [
          { stroke: '#5b6472', grid: { stroke: '#eef0f3' } },
          { stroke: '#5b6472', grid: { stroke: '#eef0f3' }, size: 70, values: (_, ticks) => ticks.map(money) },
        ],
        series: [
          {},
          {
            label: data.label,
            stroke: '#2f6fde',
            width: 2,
            fill: 'rgba(47, 111, 222, 0.10)',
            points: { show: days.length <= 40, size: 5 },
            value: (_, cents) => (cents == null ? '' : money(cents)),
          },
        ],
      },
      [days, data.values],
      element,
    );
    window.addEventListener('resize', () => plot.setSize(size()));
  }

  /** Writes the day's figures as the page does: money in `data-cents` and as text, counts as text. */
  function showFigures(element, day) {
    element.querySelectorAll('[data-figure]').forEach((figure) => {
      const value = day[figure.dataset.figure];
      if (figure.dataset.cents !== undefined) {
        figure.dataset.cents = String(value);
        figure.textContent = money(value);
      } else {
        figure.textContent = value ?? '–';
      }
    });
  }

  /** Polls the day (the same read as GET /billing/days/{date}) and shows the close's progress until it reads closed. */
  function followClose(element) {
    const status = element.querySelector('[data-live-status]');
    const progress = element.querySelector('[data-live-progress]');
    const poll = async () => {
      let day;
      try {
        const response = await fetch(element.dataset.progressUrl, { headers: { Accept: 'application/json' }, credentials: 'same-origin' });
        if (!response.ok) throw new Error(String(response.status));
        day = await response.json();
      } catch {
        setTimeout(poll, 2000);
        return;
      }
      showFigures(element, day);
      if (day.progress) {
        const p = day.progress;
        progress.textContent = `${p.accountsDone} of ${p.accountsTotal} accounts, ${p.payouts} payouts, ${money(p.paidOutCents)} paid out`;
      }
      if (day.status === 'closed') progress.textContent = `Closed at ${day.closedAt.slice(0, 16).replace('T', ' ')} UTC.`;
      // The status goes last: whoever waits for "closed" finds the figures final.
      status.textContent = day.status;
      status.dataset.status = day.status;
      if (day.status === 'closed') return;
      setTimeout(poll, 1000);
    };
    poll();
  }

  document.querySelectorAll('[data-chart]').forEach(drawChart);
  document.querySelectorAll('[data-progress-url]').forEach(followClose);
})();
