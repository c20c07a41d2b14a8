using Microsoft.Extensions.Logging;

namespace Cairn.Core.Jobs;

internal static partial class Log
{
    [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "Job {JobId} ({Type}) {What}")]
    public static partial void JobStarted(ILogger logger, Guid jobId, string type, string what);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Information, Message = "Job {JobId} ({Type}) ended {State}: {Error}")]
    public static partial void JobFinished(ILogger logger, Guid jobId, string type, string state, string? error);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Error, Message = "Job {JobId} ({Type}) handler failed")]
    public static partial void HandlerFailed(ILogger logger, Guid jobId, string type, Exception ex);

    [LoggerMessage(EventId = 2004, Level = LogLevel.Error, Message = "Job {JobId} could not record its state; it will be recovered at the next start")]
    public static partial void StateWriteFailed(ILogger logger, Guid jobId, Exception ex);

    [LoggerMessage(EventId = 2005, Level = LogLevel.Warning, Message = "Job {JobId} ({Type}) was interrupted by a restart: {Outcome}")]
    public static partial void Recovered(ILogger logger, Guid jobId, string type, string outcome);

    [LoggerMessage(EventId = 2006, Level = LogLevel.Information, Message = "Retention sweep deleted {Count} finished jobs")]
    public static partial void Swept(ILogger logger, int count);

    [LoggerMessage(EventId = 2007, Level = LogLevel.Error, Message = "Retention sweep failed")]
    public static partial void SweepFailed(ILogger logger, Exception ex);
}
