using Microsoft.Extensions.Logging;

namespace Cairn.Core.Transfer;

internal static partial class Log
{
    [LoggerMessage(EventId = 1901, Level = LogLevel.Information,
        Message = "Imported {Name} from {Source}: {Written} bytes stored of {Size} in {Total:F0} ms (setup {Setup:F0}, copy {Copy:F0}, {Flush} {FlushMs:F0})")]
    public static partial void Imported(ILogger logger, string name, string source, long written, long size, double total, double setup, double copy, string flush, double flushMs);

    [LoggerMessage(EventId = 1902, Level = LogLevel.Debug, Message = "Background flush of {Name} skipped: {Reason}")]
    public static partial void BackgroundFlushSkipped(ILogger logger, string name, string reason);

    [LoggerMessage(EventId = 1903, Level = LogLevel.Error, Message = "Background flush of imported volume {Name} failed: {Reason}")]
    public static partial void BackgroundFlushFailed(ILogger logger, string name, string reason);
}
