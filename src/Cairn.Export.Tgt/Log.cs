using Microsoft.Extensions.Logging;

namespace Cairn.Export.Tgt;

/// <summary>Log events of the tgt exporter (ids 2201–2249). Never a secret: commands are logged redacted by the process runner.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 2201, Level = LogLevel.Information, Message = "tgt: reconciled {Count} targets on control port {Port} ({Created} created, {Removed} removed, {Foreign} not Cairn's left alone)")]
    public static partial void Reconciled(ILogger logger, int count, int port, int created, int removed, int foreign);

    [LoggerMessage(EventId = 2202, Level = LogLevel.Warning, Message = "tgt: tgtd on control port {Port} restarted or went away; Cairn's targets will be applied again")]
    public static partial void Restarted(ILogger logger, int port);

    [LoggerMessage(EventId = 2203, Level = LogLevel.Error, Message = "tgt: target {Iqn} exists in tgtd as tid {Tid}, which Cairn did not create; it is left alone and Cairn's target is not exported")]
    public static partial void ForeignNameClash(ILogger logger, string iqn, int tid);

    [LoggerMessage(EventId = 2204, Level = LogLevel.Error, Message = "tgt: target {Iqn} could not be applied: {Reason}")]
    public static partial void TargetFailed(ILogger logger, string iqn, string reason);

    [LoggerMessage(EventId = 2205, Level = LogLevel.Debug, Message = "tgt: target {Iqn} is tid {Tid}")]
    public static partial void Created(ILogger logger, string iqn, int tid);

    [LoggerMessage(EventId = 2206, Level = LogLevel.Debug, Message = "tgt: target {Iqn} (tid {Tid}) removed")]
    public static partial void Removed(ILogger logger, string iqn, int tid);

    [LoggerMessage(EventId = 2207, Level = LogLevel.Information, Message = "tgt: CHAP account {User} (re)created")]
    public static partial void AccountSet(ILogger logger, string user);

    [LoggerMessage(EventId = 2208, Level = LogLevel.Warning, Message = "tgt: reading sessions failed: {Reason}")]
    public static partial void SessionsFailed(ILogger logger, string reason);
}
