using Cairn.Iscsi.Protocol;
using Microsoft.Extensions.Logging;

namespace Cairn.Iscsi.Target;

/// <summary>
/// The transport's log events. Every string that came from the peer (initiator and target names) goes through
/// <see cref="PeerText.ForLog"/> here, so no call site can log one verbatim.
/// </summary>
internal static partial class Log
{
    public static void LoggedIn(ILogger logger, string initiator, string target, ushort tsih, string connectionId)
    {
        if (logger.IsEnabled(LogLevel.Information)) LoggedInCore(logger, PeerText.ForLog(initiator), PeerText.ForLog(target), tsih, connectionId);
    }

    public static void LoginRefused(ILogger logger, string initiator, string target, byte @class, byte detail, string why, string connectionId)
    {
        if (logger.IsEnabled(LogLevel.Warning))
            LoginRefusedCore(logger, PeerText.ForLog(initiator), PeerText.ForLog(target), @class, detail, PeerText.ForLog(why, 1024), connectionId);
    }

    public static void ProtocolError(ILogger logger, string connectionId, string why)
    {
        if (logger.IsEnabled(LogLevel.Warning)) ProtocolErrorCore(logger, connectionId, PeerText.ForLog(why, 1024));
    }

    public static void Ending(ILogger logger, string initiator, string target, SessionEndReason reason)
    {
        if (logger.IsEnabled(LogLevel.Information)) EndingCore(logger, PeerText.ForLog(initiator), PeerText.ForLog(target), reason);
    }

    public static void UnitFailed(ILogger logger, Exception ex, string target, int lun)
    {
        if (logger.IsEnabled(LogLevel.Error)) UnitFailedCore(logger, ex, PeerText.ForLog(target), lun);
    }

    public static void LoggedOut(ILogger logger, string initiator, string target)
    {
        if (logger.IsEnabled(LogLevel.Information)) LoggedOutCore(logger, PeerText.ForLog(initiator), PeerText.ForLog(target));
    }

    [LoggerMessage(EventId = 3001, Level = LogLevel.Information, Message = "iSCSI login: {Initiator} to {Target} (TSIH {Tsih}, conn {ConnectionId})")]
    private static partial void LoggedInCore(ILogger logger, string initiator, string target, ushort tsih, string connectionId);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Warning, Message = "iSCSI login refused: {Initiator} to {Target}: class {Class} detail {Detail} ({Why}) conn {ConnectionId}")]
    private static partial void LoginRefusedCore(ILogger logger, string initiator, string target, byte @class, byte detail, string why, string connectionId);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Warning, Message = "iSCSI protocol error on conn {ConnectionId}: {Why}; dropping connection")]
    private static partial void ProtocolErrorCore(ILogger logger, string connectionId, string why);

    [LoggerMessage(EventId = 3004, Level = LogLevel.Information, Message = "iSCSI session {Initiator} to {Target} ending: {Reason}")]
    private static partial void EndingCore(ILogger logger, string initiator, string target, SessionEndReason reason);

    [LoggerMessage(EventId = 3005, Level = LogLevel.Error, Message = "iSCSI LU failed a command on {Target} LUN {Lun}")]
    private static partial void UnitFailedCore(ILogger logger, Exception ex, string target, int lun);

    [LoggerMessage(EventId = 3006, Level = LogLevel.Debug, Message = "iSCSI conn {ConnectionId} closed")]
    public static partial void Closed(ILogger logger, string connectionId);

    [LoggerMessage(EventId = 3007, Level = LogLevel.Debug, Message = "iSCSI conn {ConnectionId}: reject reason {Reason} for opcode {Opcode}")]
    public static partial void Rejected(ILogger logger, string connectionId, byte reason, byte opcode);

    [LoggerMessage(EventId = 3008, Level = LogLevel.Information, Message = "iSCSI logout: {Initiator} from {Target}")]
    private static partial void LoggedOutCore(ILogger logger, string initiator, string target);
}
