using Cairn.Api;
using Cairn.Api.Admin;
using Cairn.Api.Lun;
using Cairn.Core;
using Cairn.Core.Jobs;
using Cairn.Core.Services;
using Cairn.Core.State;
using Cairn.Core.Storage;
using Cairn.Engine;
using Cairn.Iscsi.Target;
using Cairn.Store;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Cairn.Hosting;

/// <summary>
/// <c>cairn serve</c>: one process, one HTTP listener for every API (by path) and, with its issue, the iSCSI listener.
/// Everything is opened, recovered and reconciled before the listeners start, so <c>/healthz</c> answers 200 as soon
/// as it answers at all.
/// </summary>
public static class ServerHost
{
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA2000", Justification = "The data directory lock is owned by the container from AddCairn on; a failure before that is a failed start.")]
    public static WebApplication Build(CairnOptions options, Action<WebApplicationBuilder>? configure = null)
    {
        // Everything that can fail is checked before anything is written: a failed start leaves no data directory,
        // lock or database behind. The listeners' sockets are bound here, first, and handed to Kestrel as they are, so
        // no other program can take a port between this check and the server's start.
        options.Validate();
        var data = Path.GetFullPath(options.Data);
        var http = CairnOptions.ParseEndpoint(options.Http, "http");
        var iscsi = CairnOptions.ParseEndpoint(options.Iscsi, "iscsi");
        var socket = options.SocketPath(data, out var socketWarning);
        HttpsSetup.Check(options, http);
        var httpListener = Bind(http, "Http");
        System.Net.Sockets.Socket? iscsiListener;
        try { iscsiListener = Bind(iscsi, "Iscsi"); }
        catch
        {
            httpListener?.Dispose();
            throw;
        }
        Directory.CreateDirectory(data);
        var dataLock = DataDirectoryLock.Acquire(data);

        // No configuration reload: the host would watch its content root (the data directory) recursively with
        // inotify, so every pwrite into a layer file woke the watcher thread (9 % of the server's CPU under 4 KiB
        // iSCSI writes, perf in bench `qemu`). Cairn reads no appsettings.json anyway (CairnOptionsBinder).
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = ["--hostBuilder:reloadConfigOnChange=false"], ContentRootPath = data });
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ "; o.UseUtcTimestamp = true; });
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.Hosting", LogLevel.Warning);

        if (socket is not null && File.Exists(socket))
        {
            // A socket left by a server that was killed (the data directory lock says none is running now). Sockets
            // have no length; anything else there is somebody's file and stays.
            if (new FileInfo(socket).Length != 0) throw CairnException.Invalid($"socket path {socket} is an existing file");
            File.Delete(socket);
        }
        // Read straight into a buffer instead of a zero-byte wait first: halves receive calls per 128 KiB iSCSI write
        // (measured with perf stat in bench `iscsi`), at the cost of a buffer per connection that is idle.
        builder.WebHost.UseSockets(o => o.WaitForDataBeforeAllocatingBuffer = false);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = 64 << 20;
            // Kestrel listens on the sockets bound above without owning them: closed below once the server stopped.
            if (httpListener is not null) k.ListenHandle((ulong)httpListener.Handle, lo => HttpsSetup.Configure(lo, options, http));
            else k.Listen(http, lo => HttpsSetup.Configure(lo, options, http));
            if (socket is not null) k.ListenUnixSocket(socket, lo => lo.Protocols = HttpProtocols.Http1);
        });

        builder.AddCairnIscsi(listen: null, o => o.MaxBufferedWriteBytes = (long)options.IscsiWriteBufferMb << 20);
        // iSCSI has a listener of its own (IscsiListener), on the socket bound above; Kestrel serves only HTTP.
        if (iscsiListener is not null) builder.Services.AddCairnIscsiListener(iscsiListener);
        else builder.Services.AddCairnIscsiListener(iscsi);
        builder.Services.AddOptions<IscsiTargetOptions>().Validate(o => o.Validate() is null, "invalid iSCSI target options").ValidateOnStart();
        builder.Services.AddCairn(options, data, new ServerSocket(socket, socketWarning), dataLock);
        configure?.Invoke(builder);
        var app = builder.Build();
        app.Lifetime.ApplicationStopped.Register(() =>
        {
            httpListener?.Dispose();
            iscsiListener?.Dispose();
        });
        app.MapCairn();
        return app;
    }

    /// <summary>
    /// Binds and listens on <paramref name="ep"/> before anything is created, so that a port in use (or not ours to take)
    /// is an error naming its setting instead of Kestrel's failure (a stack trace, and an http:// address even for iSCSI)
    /// after the data directory was opened; returns the listening socket, which Kestrel then listens on, so the port stays
    /// ours from this check on. Port 0 (any free port) is left to Kestrel: nothing can be in use there, and tests read
    /// the port Kestrel picked.
    /// </summary>
    private static System.Net.Sockets.Socket? Bind(System.Net.IPEndPoint ep, string setting)
    {
        if (ep.Port == 0) return null;
        var s = new System.Net.Sockets.Socket(ep.AddressFamily, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        try
        {
            // No ReuseAddress: on Linux .NET sets SO_REUSEPORT with it, which would let a second server share the port.
            s.Bind(ep);
            s.Listen(512);
        }
        catch (System.Net.Sockets.SocketException e)
        {
            var why = e.SocketErrorCode switch
            {
                System.Net.Sockets.SocketError.AddressAlreadyInUse => "is already in use (another program listens there)",
                System.Net.Sockets.SocketError.AccessDenied => "may not be taken by this user (ports below 1024 need privileges)",
                System.Net.Sockets.SocketError.AddressNotAvailable => "is not an address of this host",
                _ => "cannot be listened on: " + e.Message,
            };
            s.Dispose();
            throw CairnException.Invalid($"{CairnOptions.Setting(setting)}: {ep} {why}");
        }
        return s;
    }

    public static async Task<int> RunAsync(CairnOptions options, CancellationToken ct)
    {
        await using var app = Build(options);
        var log = app.Services.GetRequiredService<ILogger<CairnOptions>>();
        await app.StartAsync(ct);
        var (socket, socketWarning) = app.Services.GetRequiredService<ServerSocket>();
        // Only the server's user (and root) may connect: a peer there may name server-side files to import.
        if (socket is not null) File.SetUnixFileMode(socket, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        if (socketWarning is not null) HostLog.SocketWarning(log, socketWarning);
        var pools = await app.Services.GetRequiredService<Core.Pools.PoolService>().ListAsync(ct);
        HostLog.Serving(log, options.Http, options.Iscsi, socket ?? "none", Path.GetFullPath(options.Data), options.Exporter,
            pools.Count == 0 ? "none (create one: cairn pool create NAME)" : string.Join(", ", pools.Select(p => $"{p.Name} ({p.Engine}{(p.Error is null ? "" : ", unavailable: " + p.Error)})")));
        await app.WaitForShutdownAsync(ct);
        HostLog.Stopped(log);
        return 0;
    }
}

/// <summary>The Unix socket the server listens on (null: none), and why there is none when it was wanted.</summary>
public sealed record ServerSocket(string? Path, string? Warning);

/// <summary>One server per data directory: an exclusive lock on <c>cairn.lock</c> for the process's life.</summary>
public sealed class DataDirectoryLock : IDisposable
{
    private readonly FileStream _file;
    private DataDirectoryLock(FileStream f) => _file = f;

    public static DataDirectoryLock Acquire(string dir)
    {
        try
        {
            // .NET takes an advisory flock for FileShare.None on Unix.
            return new DataDirectoryLock(new FileStream(Path.Combine(dir, "cairn.lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None));
        }
        catch (IOException)
        {
            throw CairnException.Conflict($"another cairn server is using {dir}");
        }
    }

    public void Dispose() => _file.Dispose();
}
