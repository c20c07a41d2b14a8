using Microsoft.Extensions.Logging;

namespace Cairn.Engine.Zfs;

/// <summary>Log events of the ZFS engine (ids 1600–1699).</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 1601, Level = LogLevel.Information, Message = "zfs pool {Pool} attached ({Mode} volumes, {Datasets} datasets, {Snapshots} snapshots)")]
    public static partial void Attached(ILogger logger, string pool, string mode, int datasets, int snapshots);

    [LoggerMessage(EventId = 1602, Level = LogLevel.Debug, Message = "{What}: dataset busy, try {Attempt} again in {Ms} ms")]
    public static partial void BusyRetry(ILogger logger, string what, int attempt, double ms);

    [LoggerMessage(EventId = 1603, Level = LogLevel.Information, Message = "zfs pool {Pool} re-read: {Datasets} datasets, {Snapshots} snapshots in {Ms:0} ms")]
    public static partial void Refreshed(ILogger logger, string pool, int datasets, int snapshots, double ms);

    [LoggerMessage(EventId = 1604, Level = LogLevel.Warning, Message = "zfs: {What} failed unexpectedly; pool {Pool} will be re-read: {Error}")]
    public static partial void Unexpected(ILogger logger, string what, string pool, string error);
}
