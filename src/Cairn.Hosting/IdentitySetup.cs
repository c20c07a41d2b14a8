using Cairn.Api.Identity;
using Cairn.Core.Identity;

namespace Cairn.Hosting;

/// <summary>The identity module in the host: its service, the token validator the auth mode chooses, first-start credentials.</summary>
public static class IdentitySetup
{
    /// <summary>The file a first start writes the generated admin password to (mode 0600).</summary>
    public const string PasswordFileName = "admin-password";

    /// <summary>
    /// Registers <see cref="IdentityService"/> (users, projects, roles and tokens in the state store), the
    /// <see cref="ITokenValidator"/> of <see cref="CairnOptions.Auth"/> (the identity service's tokens, or Cinder's
    /// <see cref="NoAuthTokenValidator"/> with <c>noauth</c>), the catalog's public URL, Keystone's error shape and,
    /// with <c>keystone</c>, the first-start admin credentials.
    /// </summary>
    public static IServiceCollection AddCairnIdentity(this IServiceCollection s, CairnOptions options, string data)
    {
        s.AddSingleton(new IdentityOptions { TokenLifetime = TimeSpan.FromSeconds(options.TokenExpiration) });
        s.AddSingleton<IdentityService>();
        if (options.Auth == "noauth") s.AddSingleton<ITokenValidator, NoAuthTokenValidator>();
        else
        {
            s.AddSingleton<ITokenValidator>(sp => sp.GetRequiredService<IdentityService>());
            s.AddHostedService(sp => new IdentityBootstrap(sp.GetRequiredService<IdentityService>(), Path.Combine(data, PasswordFileName),
                options, sp.GetRequiredService<ILogger<IdentityService>>()));
        }
        s.AddSingleton(new KeystoneSettings(options.ResolvedPublicBase()));
        s.AddSingleton(KeystoneApi.ErrorShape);
        return s;
    }

    /// <summary>Maps the Keystone-compatible token service (<c>/identity</c>) and the identity admin endpoints.</summary>
    public static WebApplication MapCairnIdentity(this WebApplication app)
    {
        var options = app.Services.GetRequiredService<CairnOptions>();
        app.MapKeystoneApi(enabled: options.Auth != "noauth");
        app.MapCairnIdentityAdminApi();
        return app;
    }
}

/// <summary>First start (no users yet): the admin project and user, with a generated password written to a 0600 file whose path is logged.</summary>
internal sealed class IdentityBootstrap(IdentityService ids, string passwordFile, CairnOptions options, ILogger log) : IHostedService
{
    public async Task StartAsync(CancellationToken ct)
    {
        if (await ids.BootstrapAsync(passwordFile, ct) is not { } path) return;
        var url = options.ResolvedPublicBase() ?? "http://HOST:PORT";
        HostLog.FirstAdmin(log, path, $"openstack --os-auth-url {url}/identity/v3 --os-username admin --os-project-name admin " +
            $"--os-user-domain-name Default --os-project-domain-name Default --os-password \"$(cat {path})\" token issue");
    }

    public Task StopAsync(CancellationToken ct) => Task.CompletedTask;
}
