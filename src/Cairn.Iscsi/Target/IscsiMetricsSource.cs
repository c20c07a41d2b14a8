using System.Globalization;
using Cairn.Core;

namespace Cairn.Iscsi.Target;

/// <summary>
/// The iSCSI target's figures on /metrics: per target (label <c>target</c>) live sessions, SCSI commands, data-in and
/// data-out bytes and command latency (<c>cairn_iscsi_target_*</c>), and the same for the whole server
/// (<c>cairn_iscsi_*</c>, which keep what removed targets had counted). Computed on scrape from lock-free counters.
/// </summary>
public sealed class IscsiMetricsSource(TargetRegistry registry) : IMetricsSource
{
    private const string Latency = "command_duration_seconds";

    /// <inheritdoc/>
    public IEnumerable<MetricFamily> Collect()
    {
        var targets = registry.Targets.Select(t => t.Iqn).Order(StringComparer.Ordinal).ToArray();
        var live = registry.Sessions;
        var sessions = live.GroupBy(s => s.TargetName, StringComparer.OrdinalIgnoreCase).ToDictionary(g => g.Key, g => g.Count(), StringComparer.OrdinalIgnoreCase);
        var perTarget = targets.Select(t => (Label: $"target=\"{Escape(t)}\"", C: registry.CountersFor(t))).ToArray();
        var total = new IscsiTargetCounters();
        foreach (var c in registry.AllCounters) c.AddTo(total);
        (string, IscsiTargetCounters)[] all = [("", total)];

        yield return Gauge("cairn_iscsi_target_sessions", "Logged-in iSCSI sessions per target.",
            [.. targets.Select(t => new MetricSample("cairn_iscsi_target_sessions", $"target=\"{Escape(t)}\"", sessions.GetValueOrDefault(t)))]);
        foreach (var f in Families("cairn_iscsi_target_", " per target.", perTarget)) yield return f;
        yield return Gauge("cairn_iscsi_sessions", "Logged-in iSCSI sessions, all targets.", [new("cairn_iscsi_sessions", "", live.Count)]);
        foreach (var f in Families("cairn_iscsi_", ", all targets (removed ones included).", all)) yield return f;
    }

    private static MetricFamily Gauge(string name, string help, IReadOnlyList<MetricSample> samples) => new(name, help, "gauge", samples);

    private static IEnumerable<MetricFamily> Families(string prefix, string scope, (string Label, IscsiTargetCounters C)[] rows)
    {
        MetricFamily Counter(string name, string help, Func<IscsiTargetCounters, long> value) =>
            new(prefix + name, help + scope, "counter", [.. rows.Select(x => new MetricSample(prefix + name, x.Label, value(x.C)))]);

        yield return Counter("commands_total", "SCSI commands executed", c => c.Commands);
        yield return Counter("read_bytes_total", "Data-in bytes sent to initiators (READ and every other command that returns data)", c => c.BytesRead);
        yield return Counter("written_bytes_total", "Data-out bytes of commands that completed GOOD (WRITE and every other command that carries data)", c => c.BytesWritten);

        var name = prefix + Latency;
        var samples = new List<MetricSample>();
        foreach (var (label, c) in rows)
        {
            string sep = label.Length > 0 ? label + "," : "";
            long cum = 0;
            for (int i = 0; i < IscsiTargetCounters.BucketBounds.Length; i++)
            {
                cum += c.Bucket(i);
                samples.Add(new(name + "_bucket", $"{sep}le=\"{IscsiTargetCounters.BucketBounds[i].ToString(CultureInfo.InvariantCulture)}\"", cum));
            }
            cum += c.Bucket(IscsiTargetCounters.BucketBounds.Length);
            samples.Add(new(name + "_bucket", $"{sep}le=\"+Inf\"", cum));
            samples.Add(new(name + "_sum", label, c.Seconds));
            samples.Add(new(name + "_count", label, cum));
        }
        yield return new MetricFamily(name, "Time the logical unit took to execute a SCSI command (after its data-out arrived, before its data-in and status were sent)" + scope, "histogram", samples);
    }

    private static string Escape(string value) => value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
}
