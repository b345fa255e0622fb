<?php
// fpmstat-opcache.php: OPcache figures of the php-fpm master that runs this
// script, as one JSON object, for `fpmstat --opcache` and the collectd
// plugin's `Opcache true`. It takes no input and changes nothing: it reads
// opcache_get_status(false) (no script list) and the OPcache directives.
// Installed read-only and root-owned; see docs/opcache.md.
header('Content-Type: application/json');
header('Cache-Control: no-store');

$out = [
    'fpmstat_opcache' => 1,
    'php_version' => PHP_VERSION,
    'sapi' => PHP_SAPI,
    // the master's pid: pools of one master share one OPcache
    'master_pid' => function_exists('posix_getppid') ? posix_getppid() : null,
    'loaded' => false,
    'enabled' => false,
    'reason' => '',
];

if (!extension_loaded('Zend OPcache') || !function_exists('opcache_get_status')) {
    $out['reason'] = 'not loaded';
} else {
    $out['loaded'] = true;
    $config = function_exists('opcache_get_configuration') ? @opcache_get_configuration() : false;
    if (is_array($config) && isset($config['directives'])) {
        $keep = [
            'opcache.enable', 'opcache.memory_consumption',
            'opcache.interned_strings_buffer', 'opcache.max_accelerated_files',
            'opcache.max_wasted_percentage', 'opcache.validate_timestamps',
            'opcache.revalidate_freq', 'opcache.file_update_protection',
            'opcache.restrict_api', 'opcache.jit', 'opcache.jit_buffer_size',
        ];
        $out['directives'] = [];
        foreach ($keep as $k) {
            if (array_key_exists($k, $config['directives'])) {
                $out['directives'][$k] = $config['directives'][$k];
            }
        }
    }
    error_clear_last();
    $status = @opcache_get_status(false);
    if (!is_array($status)) {
        $restrict = (string)ini_get('opcache.restrict_api');
        $last = error_get_last();
        $message = is_array($last) ? (string)$last['message'] : '';
        if ($message !== '') {
            $out['error'] = $message;
        }
        if ($restrict !== '' || strpos($message, 'restrict_api') !== false) {
            $out['reason'] = 'opcache.restrict_api';
            $out['restrict_api'] = $restrict;
        } elseif (PHP_SAPI === 'cli' && !ini_get('opcache.enable_cli')) {
            $out['reason'] = 'opcache.enable_cli=0';
        } elseif (!ini_get('opcache.enable')) {
            $out['reason'] = 'opcache.enable=0';
        } else {
            $out['reason'] = 'no status';
        }
    } else {
        $out['enabled'] = !empty($status['opcache_enabled']);
        if (!$out['enabled']) {
            $out['reason'] = 'opcache.enable=0';
        }
        unset($status['scripts']);
        $out['status'] = $status;
    }
}

echo json_encode($out, JSON_PARTIAL_OUTPUT_ON_ERROR | JSON_UNESCAPED_SLASHES), "\n";
