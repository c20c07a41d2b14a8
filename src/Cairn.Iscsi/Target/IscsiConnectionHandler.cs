using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Cairn.Iscsi.Target;

/// <summary>
/// Kestrel connection handler for iSCSI (<c>listenOptions.UseConnectionHandler&lt;IscsiConnectionHandler&gt;()</c>):
/// Kestrel gives the pipes, pooled memory and graceful shutdown; <see cref="IscsiConnection"/> does the protocol.
/// </summary>
public sealed class IscsiConnectionHandler(TargetRegistry registry, IOptions<IscsiTargetOptions> options, ILogger<IscsiConnectionHandler> logger)
    : ConnectionHandler
{
    /// <inheritdoc/>
    public override async Task OnConnectedAsync(ConnectionContext connection)
    {
        var conn = new IscsiConnection(connection.Transport.Input, connection.Transport.Output, registry, options.Value,
            FormatPortal(connection.LocalEndPoint), connection.ConnectionId, logger);
        await conn.RunAsync(connection.ConnectionClosed);
    }

    /// <summary>TargetAddress form of an endpoint (RFC 7143 §13.8): <c>a.b.c.d:port</c> or <c>[v6]:port</c>.</summary>
    public static string FormatPortal(EndPoint? ep) => ep switch
    {
        IPEndPoint { Address.AddressFamily: System.Net.Sockets.AddressFamily.InterNetworkV6 } v6 => $"[{v6.Address}]:{v6.Port}",
        IPEndPoint v4 => $"{v4.Address}:{v4.Port}",
        _ => ep?.ToString() ?? "0.0.0.0:3260",
    };
}
