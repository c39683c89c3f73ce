<?php
// Creates many plain accounts in one maintenance run (createAndPromote.php is one PHP
// start-up per account: far too slow for hundreds of scale-test targets).
// Usage: php create_users.php < names.txt   (one account name per line), with MW_CONFIG_FILE
// and MW_INSTALL_PATH (the MediaWiki directory) set.
require_once getenv( 'MW_INSTALL_PATH' ) . '/maintenance/Maintenance.php';

class CreateUsers extends Maintenance {
	public function execute() {
		$created = 0;
		while ( ( $line = fgets( STDIN ) ) !== false ) {
			$name = trim( $line );
			if ( $name === '' ) {
				continue;
			}
			$user = User::newFromName( $name );
			if ( !$user || $user->isRegistered() ) {
				continue;
			}
			if ( User::createNew( $name ) === null ) {
				$this->fatalError( "could not create $name" );
			}
			$created++;
		}
		$this->output( "created $created\n" );
	}
}

$maintClass = CreateUsers::class;
require_once RUN_MAINTENANCE_IF_MAIN;
