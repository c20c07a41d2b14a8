using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Cairn.Core;

namespace Cairn.Api;

/// <summary>
/// A small Prometheus text-format registry: request latency histograms per API and status class, plus gauges
/// collected on scrape. Hand-written because it is a few dozen lines and sits on every request.
/// </summary>
public sealed class CairnMetrics
{
    private static readonly double[] Buckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    private sealed class Histogram
    {
        public readonly long[] Counts = new long[Buckets.Length + 1];
        public long Count;
        public double Sum;
    }

    private readonly ConcurrentDictionary<(string Api, string Method, int Status), Histogram> _requests = new();
    private readonly List<Func<IEnumerable<(string Name, string Help, string Type, IEnumerable<(string Labels, double Value)> Samples)>>> _collectors = [];
    private readonly IMetricsSource[] _sources;

    /// <summary>A registry with no sources besides what <see cref="AddCollector"/> adds.</summary>
    public CairnMetrics() : this([])
    {
    }

    /// <summary>A registry that also renders every <see cref="IMetricsSource"/> registered (the iSCSI target's, …).</summary>
    public CairnMetrics(IEnumerable<IMetricsSource> sources) => _sources = [.. sources];

    /// <summary>Records one HTTP request.</summary>
    public void ObserveRequest(string api, string method, int status, double seconds)
    {
        var h = _requests.GetOrAdd((api, method, status), _ => new Histogram());
        lock (h)
        {
            int i = 0;
            while (i < Buckets.Length && seconds > Buckets[i]) i++;
            h.Counts[i]++;
            h.Count++;
            h.Sum += seconds;
        }
    }

    /// <summary>Adds gauges computed at scrape time.</summary>
    public void AddCollector(Func<IEnumerable<(string Name, string Help, string Type, IEnumerable<(string Labels, double Value)> Samples)>> collector)
    {
        lock (_collectors) _collectors.Add(collector);
    }

    /// <summary>Renders everything in Prometheus text exposition format 0.0.4.</summary>
    public string Render()
    {
        var sb = new StringBuilder();
        var ci = CultureInfo.InvariantCulture;
        sb.Append("# HELP cairn_http_request_duration_seconds HTTP request latency.\n# TYPE cairn_http_request_duration_seconds histogram\n");
        foreach (var ((api, method, status), h) in _requests.OrderBy(k => k.Key.Api).ThenBy(k => k.Key.Method).ThenBy(k => k.Key.Status))
        {
            var labels = $"api=\"{api}\",method=\"{method}\",code=\"{status}\"";
            lock (h)
            {
                long cum = 0;
                for (int i = 0; i < Buckets.Length; i++)
                {
                    cum += h.Counts[i];
                    sb.Append(ci, $"cairn_http_request_duration_seconds_bucket{{{labels},le=\"{Buckets[i]}\"}} {cum}\n");
                }
                sb.Append(ci, $"cairn_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {h.Count}\n");
                sb.Append(ci, $"cairn_http_request_duration_seconds_sum{{{labels}}} {h.Sum}\n");
                sb.Append(ci, $"cairn_http_request_duration_seconds_count{{{labels}}} {h.Count}\n");
            }
        }
        List<Func<IEnumerable<(string, string, string, IEnumerable<(string, double)>)>>> collectors;
        lock (_collectors) collectors = [.. _collectors];
        foreach (var c in collectors)
        {
            foreach (var (name, help, type, samples) in c())
            {
                sb.Append(ci, $"# HELP {name} {help}\n# TYPE {name} {type}\n");
                foreach (var (labels, value) in samples)
                    sb.Append(ci, $"{name}{(labels.Length > 0 ? "{" + labels + "}" : "")} {value}\n");
            }
        }
        foreach (var source in _sources)
        {
            foreach (var f in source.Collect())
            {
                sb.Append(ci, $"# HELP {f.Name} {f.Help}\n# TYPE {f.Name} {f.Type}\n");
                foreach (var (name, labels, value) in f.Samples)
                    sb.Append(ci, $"{name}{(labels.Length > 0 ? "{" + labels + "}" : "")} {value}\n");
            }
        }
        return sb.ToString();
    }
}
