namespace Cairn.Engine;

/// <summary>Options of <see cref="EmbeddedEngine"/>.</summary>
public sealed class EmbeddedEngineOptions
{
    /// <summary>
    /// Sync data, map logs and metadata to disk (fdatasync, SQLite synchronous=FULL). Default true. Turning it off is
    /// only for tests and benchmarks that do not care about power loss.
    /// </summary>
    public bool Durable { get; init; } = true;
}
