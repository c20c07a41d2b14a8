namespace Cairn.Core;

/// <summary>One Prometheus sample: <c>Name{Labels} Value</c> (labels already in <c>k="v",…</c> form, or empty).</summary>
public readonly record struct MetricSample(string Name, string Labels, double Value);

/// <summary>A metric family: HELP, TYPE (gauge, counter, histogram) and its samples (a histogram's _bucket/_sum/_count).</summary>
public sealed record MetricFamily(string Name, string Help, string Type, IReadOnlyList<MetricSample> Samples);

/// <summary>
/// Something that exports metrics on scrape (the iSCSI target, …). Registered in DI as <see cref="IMetricsSource"/>;
/// the HTTP /metrics endpoint renders every registered source. Called on each scrape, never on a hot path.
/// </summary>
public interface IMetricsSource
{
    /// <summary>The families as of now.</summary>
    IEnumerable<MetricFamily> Collect();
}
