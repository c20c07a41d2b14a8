using System.Net;
using Cairn.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Cairn.Iscsi.Target;

/// <summary>DI and Kestrel wiring for the iSCSI target.</summary>
public static class IscsiHostingExtensions
{
    /// <summary>
    /// Registers the <see cref="TargetRegistry"/> (singleton), <see cref="IscsiTargetOptions"/> and the connection handler.
    /// Listening is separate: <see cref="ListenIscsi(KestrelServerOptions, IPEndPoint)"/> or the builder overload.
    /// </summary>
    public static IServiceCollection AddCairnIscsi(this IServiceCollection services, Action<IscsiTargetOptions>? configure = null)
    {
        services.TryAddSingleton<TargetRegistry>();
        services.TryAddSingleton<IscsiConnectionHandler>();
        services.TryAddSingleton(sp => new WriteBufferBudget(sp.GetRequiredService<IOptions<IscsiTargetOptions>>().Value.MaxBufferedWriteBytes,
            logger: sp.GetService<ILoggerFactory>()?.CreateLogger<WriteBufferBudget>()));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IMetricsSource, IscsiMetricsSource>());
        var options = services.AddOptions<IscsiTargetOptions>();
        if (configure is not null) options.Configure(configure);
        return services;
    }

    /// <summary>
    /// Registers the iSCSI target and, when <paramref name="listen"/> is given, makes Kestrel listen for iSCSI there
    /// (next to whatever HTTP endpoints the app has). Sessions are asked to log out when the host stops.
    /// </summary>
    public static IHostApplicationBuilder AddCairnIscsi(this IHostApplicationBuilder builder, IPEndPoint? listen, Action<IscsiTargetOptions>? configure = null)
    {
        builder.Services.AddCairnIscsi(configure);
        if (listen is not null)
            builder.Services.Configure<KestrelServerOptions>(k => k.ListenIscsi(listen));
        builder.Services.AddHostedService<IscsiShutdown>();
        return builder;
    }

    /// <summary>Adds an iSCSI listener on <paramref name="endpoint"/> (port 0 picks a free port; read it back from the returned options).</summary>
    public static ListenOptions ListenIscsi(this KestrelServerOptions kestrel, IPEndPoint endpoint)
    {
        ListenOptions? result = null;
        kestrel.Listen(endpoint, l =>
        {
            l.Protocols = HttpProtocols.None;
            l.UseConnectionHandler<IscsiConnectionHandler>();
            result = l;
        });
        return result!;
    }

    /// <summary>Adds an iSCSI listener on a socket already bound and listening (its file descriptor; the caller closes it after the server stopped).</summary>
    public static ListenOptions ListenIscsi(this KestrelServerOptions kestrel, ulong socketHandle)
    {
        ListenOptions? result = null;
        kestrel.ListenHandle(socketHandle, l =>
        {
            l.Protocols = HttpProtocols.None;
            l.UseConnectionHandler<IscsiConnectionHandler>();
            result = l;
        });
        return result!;
    }

    /// <summary>Parses <c>ip:port</c> or <c>[v6]:port</c> (the server's <c>--iscsi 127.0.0.1:3260</c>); default port 3260.</summary>
    public static IPEndPoint ParseEndpoint(string value)
    {
        if (IPEndPoint.TryParse(value, out var ep))
        {
            if (!value.Contains(':', StringComparison.Ordinal) || (value.StartsWith('[') && value.EndsWith(']'))) ep.Port = 3260;
            return ep;
        }
        throw new FormatException($"'{value}' is not an IP:port endpoint");
    }

    private sealed class IscsiShutdown(TargetRegistry registry) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken)
        {
            registry.EndAll(SessionEndReason.Shutdown);
            return Task.CompletedTask;
        }
    }
}
