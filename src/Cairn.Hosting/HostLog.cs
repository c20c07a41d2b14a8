namespace Cairn.Hosting;

/// <summary>The host's log lines (event ids 2100–2199).</summary>
internal static partial class HostLog
{
    [LoggerMessage(EventId = 2101, Level = LogLevel.Information, Message = "cairn serving: http {Http}, iscsi {Iscsi}, socket {Socket}, data {Data}, exporter {Exporter}, pools {Pools}")]
    public static partial void Serving(ILogger logger, string http, string iscsi, string socket, string data, string exporter, string pools);

    [LoggerMessage(EventId = 2102, Level = LogLevel.Warning, Message = "{Warning}")]
    public static partial void SocketWarning(ILogger logger, string warning);

    [LoggerMessage(EventId = 2103, Level = LogLevel.Information, Message = "cairn stopped")]
    public static partial void Stopped(ILogger logger);

    [LoggerMessage(EventId = 2104, Level = LogLevel.Warning, Message = "Refused client certificate {Subject} ({Fingerprint}): {Reason}")]
    public static partial void RefusedCertificate(ILogger logger, string subject, string fingerprint, string reason);

    [LoggerMessage(EventId = 2105, Level = LogLevel.Warning, Message = "first start: created project admin and user admin (role admin); the password is in {File} (readable by this user only; move it somewhere safe). Try: {Example}")]
    public static partial void FirstAdmin(ILogger logger, string file, string example);
}
