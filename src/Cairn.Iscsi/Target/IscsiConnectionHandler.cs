using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Cairn.Iscsi.Target;

/// <summary>
/// Kestrel connection handler for iSCSI (<c>listenOptions.UseConnectionHandler&lt;IscsiConnectionHandler&gt;()</c>):
/// Kestrel gives the pipes, pooled memory and graceful shutdown; <see cref="IscsiConnection"/> does the protocol.
/// </summary>
public sealed class IscsiConnectionHandler : ConnectionHandler
{
    private readonly TargetRegistry _registry;
    private readonly IOptions<IscsiTargetOptions> _options;
    private readonly ILogger<IscsiConnectionHandler> _logger;
    private readonly ConcurrentDictionary<IscsiConnection, byte> _live = new();
    private readonly WriteBufferBudget? _writeBuffers;

    /// <summary>
    /// Creates the handler; when the host stops, every connection is asked to log out and then closed. Its connections
    /// share <paramref name="writeBuffers"/> (without it, each connection has a budget of its own).
    /// </summary>
    public IscsiConnectionHandler(TargetRegistry registry, IOptions<IscsiTargetOptions> options, ILogger<IscsiConnectionHandler> logger,
        IHostApplicationLifetime? lifetime = null, WriteBufferBudget? writeBuffers = null)
    {
        _writeBuffers = writeBuffers;
        _registry = registry;
        _options = options;
        _logger = logger;
        // Kestrel waits for connection handlers at shutdown; without this, idle sessions would hold it until its timeout.
        lifetime?.ApplicationStopping.Register(() =>
        {
            foreach (var c in _live.Keys) c.End(SessionEndReason.Shutdown);
        });
    }

    /// <inheritdoc/>
    public override Task OnConnectedAsync(ConnectionContext connection) =>
        ServeAsync(connection.Transport.Input, connection.Transport.Output, connection.LocalEndPoint, connection.RemoteEndPoint,
            connection.ConnectionId, connection.ConnectionClosed);

    /// <summary>Serves one connection over its pipes until it ends; completes both pipes.</summary>
    public async Task ServeAsync(PipeReader input, PipeWriter output, EndPoint? local, EndPoint? remote, string connectionId, CancellationToken closed)
    {
        var conn = new IscsiConnection(input, output, _registry, _options.Value, FormatPortal(local), connectionId, _logger,
            (remote as IPEndPoint)?.Address.ToString(), _writeBuffers);
        _live[conn] = 0;
        try { await conn.RunAsync(closed); }
        finally { _live.TryRemove(conn, out _); }
    }

    /// <summary>Asks every connection to end (logged-in sessions are asked to log out first).</summary>
    public void EndAll()
    {
        foreach (var c in _live.Keys) c.End(SessionEndReason.Shutdown);
    }

    /// <summary>TargetAddress form of an endpoint (RFC 7143 §13.8): <c>a.b.c.d:port</c> or <c>[v6]:port</c>.</summary>
    public static string FormatPortal(EndPoint? ep) => ep switch
    {
        IPEndPoint { Address.AddressFamily: System.Net.Sockets.AddressFamily.InterNetworkV6 } v6 => $"[{v6.Address}]:{v6.Port}",
        IPEndPoint v4 => $"{v4.Address}:{v4.Port}",
        null => "0.0.0.0:3260",
        _ => ep.ToString() ?? "0.0.0.0:3260",
    };
}
