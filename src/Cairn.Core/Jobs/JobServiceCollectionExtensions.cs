using Microsoft.Extensions.DependencyInjection;

namespace Cairn.Core.Jobs;

/// <summary>DI registration of the job engine.</summary>
public static class JobServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="JobEngine"/> as a singleton and as a hosted service (recovery at start, graceful stop).
    /// The host registers an <c>IStateStore</c> and its <see cref="IJobHandler"/>s (<c>AddSingleton&lt;IJobHandler, T&gt;()</c>).
    /// </summary>
    public static IServiceCollection AddCairnJobs(this IServiceCollection services, Action<JobEngineOptions>? configure = null)
    {
        var options = new JobEngineOptions();
        configure?.Invoke(options);
        options.Validate();
        services.AddSingleton(options);
        services.AddSingleton<JobEngine>();
        services.AddHostedService(sp => sp.GetRequiredService<JobEngine>());
        return services;
    }
}
