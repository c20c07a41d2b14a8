using Microsoft.Extensions.Logging;

namespace Cairn.Iscsi.Target;

internal static partial class Log
{
    [LoggerMessage(EventId = 3001, Level = LogLevel.Information, Message = "iSCSI login: {Initiator} to {Target} (TSIH {Tsih}, conn {ConnectionId})")]
    public static partial void LoggedIn(ILogger logger, string initiator, string target, ushort tsih, string connectionId);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Warning, Message = "iSCSI login refused: {Initiator} to {Target}: class {Class} detail {Detail} ({Why}) conn {ConnectionId}")]
    public static partial void LoginRefused(ILogger logger, string initiator, string target, byte @class, byte detail, string why, string connectionId);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Warning, Message = "iSCSI protocol error on conn {ConnectionId}: {Why}; dropping connection")]
    public static partial void ProtocolError(ILogger logger, string connectionId, string why);

    [LoggerMessage(EventId = 3004, Level = LogLevel.Information, Message = "iSCSI session {Initiator} to {Target} ending: {Reason}")]
    public static partial void Ending(ILogger logger, string initiator, string target, SessionEndReason reason);

    [LoggerMessage(EventId = 3005, Level = LogLevel.Error, Message = "iSCSI LU failed a command on {Target} LUN {Lun}")]
    public static partial void UnitFailed(ILogger logger, Exception ex, string target, int lun);

    [LoggerMessage(EventId = 3006, Level = LogLevel.Debug, Message = "iSCSI conn {ConnectionId} closed")]
    public static partial void Closed(ILogger logger, string connectionId);

    [LoggerMessage(EventId = 3007, Level = LogLevel.Debug, Message = "iSCSI conn {ConnectionId}: reject reason {Reason} for opcode {Opcode}")]
    public static partial void Rejected(ILogger logger, string connectionId, byte reason, byte opcode);

    [LoggerMessage(EventId = 3008, Level = LogLevel.Information, Message = "iSCSI logout: {Initiator} from {Target}")]
    public static partial void LoggedOut(ILogger logger, string initiator, string target);
}
