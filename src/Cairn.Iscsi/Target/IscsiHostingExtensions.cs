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

/// <summary>DI wiring for the iSCSI target and its listener.</summary>
public static class IscsiHostingExtensions
{
    /// <summary>
    /// Registers the <see cref="TargetRegistry"/> (singleton), <see cref="IscsiTargetOptions"/> and the connection handler.
    /// Listening is separate: <see cref="AddCairnIscsiListener(IServiceCollection, IPEndPoint)"/> or the builder overload.
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
    /// Registers the iSCSI target and, when <paramref name="listen"/> is given, its listener there
    /// (<see cref="AddCairnIscsiListener(IServiceCollection, IPEndPoint)"/>). Sessions are asked to log out when the host stops.
    /// </summary>
    public static IHostApplicationBuilder AddCairnIscsi(this IHostApplicationBuilder builder, IPEndPoint? listen, Action<IscsiTargetOptions>? configure = null)
    {
        builder.Services.AddCairnIscsi(configure);
        if (listen is not null) builder.Services.AddCairnIscsiListener(listen);
        builder.Services.AddHostedService<IscsiShutdown>();
        return builder;
    }

    /// <summary>
    /// Listens for iSCSI on <paramref name="endpoint"/> while the host runs (port 0 picks a free port: read it from
    /// the <see cref="IscsiListener"/> service once the host started).
    /// </summary>
    public static IServiceCollection AddCairnIscsiListener(this IServiceCollection services, IPEndPoint endpoint) =>
        services.AddListener(sp => new IscsiListener(endpoint, sp.GetRequiredService<IscsiConnectionHandler>(), sp.GetRequiredService<ILogger<IscsiListener>>()));

    /// <summary>Serves iSCSI on a socket already bound and listening; the caller closes it after the host stopped.</summary>
    public static IServiceCollection AddCairnIscsiListener(this IServiceCollection services, System.Net.Sockets.Socket listening) =>
        services.AddListener(sp => new IscsiListener(listening, ownsSocket: false, sp.GetRequiredService<IscsiConnectionHandler>(), sp.GetRequiredService<ILogger<IscsiListener>>()));

    private static IServiceCollection AddListener(this IServiceCollection services, Func<IServiceProvider, IscsiListener> make)
    {
        services.AddSingleton(make);
        services.AddHostedService(sp => sp.GetRequiredService<IscsiListener>());
        return services;
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
