// callhub console: charts on the overview (Chart.js, served by the hub), progress of replay
// jobs, and confirmations. Data comes from /console/data/ endpoints, which need a session.
(function () {
  "use strict";

  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
    });
  });

  var palette = ["#2554c7", "#157f3b", "#b42318", "#b54708", "#5925dc", "#0e7090", "#c11574", "#667085"];
  var statusColors = { delivered: "#157f3b", failed: "#b42318", rejected: "#e04f16", held: "#5925dc",
    skipped: "#98a2b3", pending: "#f79009", queued: "#fdb022", sending: "#fec84b" };

  function go(base, params) {
    var query = new URLSearchParams();
    Object.keys(params).forEach(function (k) { if (params[k]) { query.set(k, params[k]); } });
    window.location.href = base + "?" + query.toString();
  }

  function nextDay(day) {
    var d = new Date(day + "T00:00:00Z");
    d.setUTCDate(d.getUTCDate() + 1);
    return d.toISOString().slice(0, 10);
  }

  function barChart(id, labels, datasets, onPick, stacked) {
    var canvas = document.getElementById(id);
    if (!canvas) { return; }
    new window.Chart(canvas, {
      type: "bar",
      data: { labels: labels, datasets: datasets },
      options: {
        animation: false, maintainAspectRatio: false,
        scales: { x: { stacked: !!stacked }, y: { stacked: !!stacked, beginAtZero: true, ticks: { precision: 0 } } },
        onClick: function (event, elements) {
          if (elements.length) { onPick(elements[0].datasetIndex, elements[0].index); }
        }
      }
    });
  }

  function drawOverview(root, data) {
    var calls = root.getAttribute("data-calls"), deliveries = root.getAttribute("data-deliveries");
    var sources = Object.keys(data.calls_per_source);
    barChart("chart-sources", data.days, sources.map(function (s, i) {
      return { label: s, data: data.calls_per_source[s], backgroundColor: palette[i % palette.length] };
    }), function (ds, i) {
      go(calls, { source: sources[ds], since: data.days[i], until: nextDay(data.days[i]) });
    }, true);
    var outcomes = Object.keys(data.call_outcomes);
    barChart("chart-outcomes", outcomes, [{ label: "calls", data: outcomes.map(function (o) { return data.call_outcomes[o]; }),
      backgroundColor: outcomes.map(function (o, i) { return palette[i % palette.length]; }) }], function (ds, i) {
      go(calls, { call_status: outcomes[i] === "other" ? "" : outcomes[i], since: data.since });
    });
    barChart("chart-first", data.days, [{ label: "first-time callers", data: data.first_time_callers, backgroundColor: palette[5] }],
      function (ds, i) { go(calls, { first_time: "1", since: data.days[i], until: nextDay(data.days[i]) }); });
    var picks = [], labels = [], series = {};
    Object.keys(data.delivery_outcomes).forEach(function (destination) {
      var d = data.delivery_outcomes[destination];
      d.days.forEach(function (day) { labels.push(destination + " " + day); picks.push([destination, day]); });
    });
    Object.keys(data.delivery_outcomes).forEach(function (destination) {
      var statuses = data.delivery_outcomes[destination].statuses;
      Object.keys(statuses).forEach(function (s) { series[s] = series[s] || labels.map(function () { return 0; }); });
    });
    picks.forEach(function (pick, index) {
      var statuses = data.delivery_outcomes[pick[0]].statuses;
      Object.keys(statuses).forEach(function (s) { series[s][index] = statuses[s][pick[1]] || 0; });
    });
    var names = Object.keys(series);
    barChart("chart-deliveries", labels, names.map(function (s) {
      return { label: s, data: series[s], backgroundColor: statusColors[s] || "#667085" };
    }), function (ds, i) {
      go(deliveries, { destination: picks[i][0], status: names[ds], since: picks[i][1], until: nextDay(picks[i][1]) });
    }, true);
  }

  var charts = document.getElementById("charts");
  if (charts && window.Chart) {
    fetch(charts.getAttribute("data-src"), { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (data) { drawOverview(charts, data); charts.setAttribute("data-ready", "1"); });
  }

  var job = document.getElementById("job");
  if (job) {
    var poll = function () {
      fetch(job.getAttribute("data-src"), { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (p) {
          document.getElementById("job-progress").value = p.done;
          document.getElementById("job-done").textContent = p.done;
          document.getElementById("job-status").textContent = p.status;
          if (p.status === "queued" || p.status === "running") { window.setTimeout(poll, 700); }
        });
    };
    poll();
  }
})();

// The call page reloads itself while a delivery is in flight, so a replay is seen to land.
(function () {
  "use strict";
  var marker = document.getElementById("auto-refresh");
  if (marker) {
    window.setTimeout(function () { window.location.reload(); }, Number(marker.getAttribute("data-refresh-ms")) || 1500);
  }
})();
